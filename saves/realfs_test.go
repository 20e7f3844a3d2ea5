package saves

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/faultfs"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// layoutSaves are save files where each firmware writes them, and a ROM.
var layoutSaves = map[string][]string{
	"onion": {
		"Roms/GBA/Golden Sun (USA).gba",
		"Saves/CurrentProfile/saves/gpSP/Golden Sun (USA).srm",
		"Saves/CurrentProfile/saves/Gambatte/Tetris (World).srm",
		"Saves/CurrentProfile/states/gpSP/Golden Sun (USA).state",
		"Saves/CurrentProfile/states/gpSP/Golden Sun (USA).state.auto",
	},
	"minui": {
		"Roms/Game Boy Advance (GBA)/Golden Sun (USA).gba",
		"Saves/GBA/Golden Sun (USA).gba.sav",
		"Saves/GB/Tetris (World).gb.rtc",
		".userdata/shared/GBA-gpsp/Golden Sun (USA).gba.st0",
		".userdata/shared/GBA-gpsp/Golden Sun (USA).gba.st9",
	},
	"muos": {
		"ROMS/GBA/Golden Sun (USA).gba",
		"MUOS/save/file/mGBA/Golden Sun (USA).srm",
		"MUOS/save/file/Gambatte/Tetris (World).srm",
		"MUOS/save/state/mGBA/Golden Sun (USA).state0",
		"MUOS/save/state/mGBA/Golden Sun (USA).state.auto",
	},
}

// TestBackupOnCardImages lays out exFAT and FAT32 cards as onion, minui
// and muos do, writes saves between passes, and checks that every save is
// backed up and the card left byte-for-byte and mtime-for-mtime as it was.
func TestBackupOnCardImages(t *testing.T) {
	for _, fsys := range []string{"exFAT", "FAT32"} {
		for _, layout := range []string{"onion", "minui", "muos"} {
			t.Run(fsys+"/"+layout, func(t *testing.T) {
				var root string
				if fsys == "exFAT" {
					root = testfs.ExFAT(t, "64M")
				} else {
					root = testfs.FAT32(t, "64M")
				}
				ctx := context.Background()
				c := newCard(t, root, layout, "card-"+layout)
				files := layoutSaves[layout]
				for i, rel := range files {
					c.write(rel, strings.Repeat(string(rune('a'+i)), 1000+i), t0)
				}
				backup := t.TempDir()
				saves := len(files) - 1 // the ROM is no save

				before := snapshot(t, root)
				rep, err := Backup(ctx, c.opts(backup))
				if err != nil {
					t.Fatal(err)
				}
				assertSame(t, before, snapshot(t, root))
				if rep.Seen != saves || rep.BackedUp != saves {
					t.Fatalf("first backup: %+v, want %d saves backed up", rep, saves)
				}

				// A week of play: one save and one state change.
				c.write(files[1], "played more", t0.Add(24*time.Hour))
				c.write(files[3], "new state", t0.Add(25*time.Hour))
				before = snapshot(t, root)
				rep, err = Backup(ctx, c.opts(backup))
				if err != nil {
					t.Fatal(err)
				}
				assertSame(t, before, snapshot(t, root))
				if rep.BackedUp != 2 || rep.Unchanged != saves-2 {
					t.Fatalf("second backup: %+v, want 2 backed up, %d unchanged", rep, saves-2)
				}
				rep, err = Backup(ctx, c.opts(backup))
				if err != nil || rep.Unchanged != saves || rep.BackedUp != 0 {
					t.Fatalf("third backup: %+v, %v: want all unchanged", rep, err)
				}
				assertSame(t, before, snapshot(t, root))
				vs, err := List(backup, "card-"+layout, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(vs) != saves+2 {
					t.Errorf("%d versions held, want %d", len(vs), saves+2)
				}
			})
		}
	}
}

// TestRestoreRoundTrip restores an older version onto an exFAT card: the
// card's current save is backed up first, the old one comes back with its
// own mtime, and the next backup reads nothing.
func TestRestoreRoundTrip(t *testing.T) {
	root := testfs.ExFAT(t, "64M")
	ctx := context.Background()
	c := newCard(t, root, "onion", "rt")
	backup := t.TempDir()
	const save = "Saves/CurrentProfile/saves/gpSP/Golden Sun (USA).srm"
	c.write(save, "version one", t0)
	if _, err := Backup(ctx, c.opts(backup)); err != nil {
		t.Fatal(err)
	}
	v1, _ := List(backup, "rt", "")
	// Played on without a backup since: the restore backs it up first.
	c.write(save, "version two", t0.Add(time.Hour))

	hash := strings.TrimSuffix(v1[0].File[strings.LastIndex(v1[0].File, "-")+1:], ".srm")
	done, err := Restore(ctx, RestoreOptions{Options: c.opts(backup), Game: "golden sun (usa)", Version: hash})
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Backup == "" {
		t.Fatalf("restored %+v: want one file, the card's previous one backed up", done)
	}
	if got := c.read(save); got != "version one" {
		t.Fatalf("card holds %q after restore", got)
	}
	st, _ := os.Stat(filepath.Join(root, save))
	if !st.ModTime().Equal(t0) {
		t.Errorf("restored save mtime %v, want the version's %v", st.ModTime(), t0)
	}
	b, err := os.ReadFile(filepath.Join(backup, "rt", filepath.FromSlash(done[0].Backup)))
	if err != nil || string(b) != "version two" {
		t.Errorf("the card's previous save %s holds %q, %v", done[0].Backup, b, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(filepath.Join(root, save)))
	for _, e := range ents {
		if cardstate.IsTemp(e.Name()) {
			t.Errorf("temp file left on the card: %s", e.Name())
		}
	}
	rep, err := Backup(ctx, c.opts(backup))
	if err != nil || rep.Unchanged != 1 || rep.BackedUp != 0 || rep.Same != 0 {
		t.Errorf("backup after restore: %+v, %v: want it unchanged, not read", rep, err)
	}
	// Restore without a version on a card that lost the save: the newest.
	if err := os.Remove(filepath.Join(root, save)); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, RestoreOptions{Options: c.opts(backup), Game: "Golden"}); err != nil {
		t.Fatal(err)
	}
	if got := c.read(save); got != "version two" {
		t.Errorf("newest restored: card holds %q", got)
	}
}

// TestBackupSaveChangedMidRead: the console writes the save while romsyncd
// reads it (faultfs appends to it after the first read): the backup reads
// it again and holds the whole new file, never a torn one.
func TestBackupSaveChangedMidRead(t *testing.T) {
	backing := t.TempDir()
	newCard(t, backing, "onion", "mid")
	const save = "Saves/CurrentProfile/saves/gpSP/Golden Sun (USA).srm"
	p := filepath.Join(backing, save)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte("s"), 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, t0, t0); err != nil {
		t.Fatal(err)
	}
	fs := faultfs.Mount(t, backing, faultfs.Options{})
	f := faultfs.NoFault()
	f.ChangeWhileRead = true
	fs.Set(save, f)
	backup := t.TempDir()
	rep, err := Backup(context.Background(), Options{Target: filepath.Join(fs.Dir(), "Roms"), Layout: "onion", Backup: backup})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Injected()[faultfs.KindChange] == 0 {
		t.Fatal("faultfs changed nothing")
	}
	if rep.BackedUp != 1 || len(rep.Changing) != 0 {
		t.Fatalf("%+v: want the save backed up after a retry", rep)
	}
	want, _ := os.ReadFile(p)
	vs, _ := List(backup, "mid", "")
	got, _ := os.ReadFile(filepath.Join(backup, "mid", vs[0].File))
	if !bytes.Equal(got, want) {
		t.Errorf("version holds %d bytes, the save has %d: torn copy", len(got), len(want))
	}
}

// TestBackupSaveKeptChanging: a save rewritten all the time (a console
// playing over USB) is retried, then reported; any version written is a
// whole one.
func TestBackupSaveKeptChanging(t *testing.T) {
	c := newCard(t, t.TempDir(), "onion", "busy")
	const save = "Saves/CurrentProfile/saves/gpSP/Golden Sun (USA).srm"
	p := filepath.Join(c.root, save)
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	c.write(save, strings.Repeat("A", 1<<20), t0)
	wg.Go(func() {
		// In place, as an emulator rewrites its save: the file always has
		// its full size, and half of it may be new while it is read.
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 1; ctx.Err() == nil; i++ {
			b := bytes.Repeat([]byte{byte('A' + i%2)}, 1<<20)
			for off := 0; off < len(b); off += 64 << 10 {
				_, _ = f.WriteAt(b[off:off+64<<10], int64(off))
			}
			mt := t0.Add(time.Duration(i) * time.Second)
			_ = os.Chtimes(p, mt, mt)
		}
	})
	backup := t.TempDir()
	rep, err := Backup(context.Background(), c.opts(backup))
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: backed up %d, changing %v", rep.BackedUp, rep.Changing)
	if rep.BackedUp+len(rep.Changing) != 1 {
		t.Fatalf("%+v: want the save backed up or reported as changing", rep)
	}
	for _, f := range versionFiles(t, filepath.Join(backup, "busy")) {
		b, _ := os.ReadFile(filepath.Join(backup, "busy", f))
		if len(b) != 1<<20 || (!bytes.Equal(b, bytes.Repeat(b[:1], len(b)))) {
			t.Errorf("version %s is torn (%d bytes)", f, len(b))
		}
	}
}

// TestBackupDiskFull: the backup disk fills up: the error says so, the
// card is untouched, and the next run (with room again) completes.
func TestBackupDiskFull(t *testing.T) {
	root := testfs.ExFAT(t, "64M")
	c := newCard(t, root, "muos", "full")
	for i := range 6 {
		c.write("MUOS/save/file/mGBA/Game "+string(rune('A'+i))+".srm", strings.Repeat(string(rune('a'+i)), 1<<20), t0)
	}
	backup := testfs.Tmpfs(t, "4m")
	before := snapshot(t, root)
	rep, err := Backup(context.Background(), c.opts(backup))
	if !errors.Is(err, ErrBackupFull) {
		t.Fatalf("full backup disk: %v (%+v)", err, rep)
	}
	if !strings.Contains(err.Error(), "backup disk full") || !strings.Contains(err.Error(), "card is untouched") {
		t.Errorf("error does not say what happened: %v", err)
	}
	assertSame(t, before, snapshot(t, root))
	first := rep.BackedUp
	if first == 0 || first == 6 {
		t.Fatalf("backed up %d of 6 before the disk filled", first)
	}
	for _, f := range versionFiles(t, filepath.Join(backup, "full")) {
		if cardstate.IsTemp(filepath.Base(f)) {
			t.Errorf("temp file left in the backup: %s", f)
		}
	}
	if out, err := exec.Command("mount", "-o", "remount,size=32m", backup).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v: %s", err, out)
	}
	rep, err = Backup(context.Background(), c.opts(backup))
	if err != nil {
		t.Fatal(err)
	}
	if rep.BackedUp != 6-first || rep.Unchanged != first {
		t.Errorf("next run: %+v, want %d backed up, %d unchanged", rep, 6-first, first)
	}
	assertSame(t, before, snapshot(t, root))
}

// TestUnchangedSavesOnExFAT measures what a backup adds to an insertion
// with 500 unchanged saves on a real exFAT card.
func TestUnchangedSavesOnExFAT(t *testing.T) {
	root := testfs.ExFAT(t, "128M")
	c := newCard(t, root, "onion", "many")
	const n = 500
	for i := range n {
		c.write("Saves/CurrentProfile/saves/Core"+itoa(i%10)+"/Game "+itoa(i)+".srm", strings.Repeat("s", 32<<10), t0)
	}
	backup := t.TempDir()
	start := time.Now()
	if _, err := Backup(context.Background(), c.opts(backup)); err != nil {
		t.Fatal(err)
	}
	t.Logf("first backup of %d saves (32 KiB each) from exFAT: %v", n, time.Since(start))
	var best time.Duration
	for range 3 {
		start = time.Now()
		rep, err := Backup(context.Background(), c.opts(backup))
		d := time.Since(start)
		if err != nil || rep.Unchanged != n {
			t.Fatalf("%+v, %v", rep, err)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	t.Logf("backup of %d unchanged saves on exFAT: %v (best of 3)", n, best)
}

// TestBackupCardPulled: the card is pulled in the middle of a backup. The
// backup stops with an error, leaves no temp file, and every version it
// recorded is whole; once the card is back the next run completes.
func TestBackupCardPulled(t *testing.T) {
	root := testfs.ExFAT(t, "128M")
	c := newCard(t, root, "onion", "pulled")
	const n = 120
	for i := range n {
		c.write("Saves/CurrentProfile/saves/Core/Game "+itoa(i)+".srm", strings.Repeat(string(rune('a'+i%26)), 256<<10), t0)
	}
	backup := t.TempDir()
	type result struct {
		rep Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Backup(context.Background(), c.opts(backup))
		done <- result{rep, err}
	}()
	time.Sleep(150 * time.Millisecond)
	testfs.Unmount(t, root, true)
	res := <-done
	t.Logf("backup with the card pulled: %d backed up, err %v", res.rep.BackedUp, res.err)
	if res.err == nil && res.rep.BackedUp == n {
		t.Skip("the backup finished before the card was pulled")
	}
	if !errors.Is(res.err, ErrNoCard) {
		t.Fatalf("card pulled: %v, want ErrNoCard (%+v)", res.err, res.rep)
	}
	checkVersionsWhole(t, filepath.Join(backup, "pulled"))
	testfs.Remount(t, root)
	rep, err := Backup(context.Background(), c.opts(backup))
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := List(backup, "pulled", "")
	if len(vs) != n {
		t.Errorf("after the card came back: %d versions held, want %d (%+v)", len(vs), n, rep)
	}
	checkVersionsWhole(t, filepath.Join(backup, "pulled"))
}

// checkVersionsWhole: no temp file in a card's backup, and every version
// the index lists holds the content its hash says.
func checkVersionsWhole(t *testing.T, dir string) {
	t.Helper()
	for _, f := range versionFiles(t, dir) {
		if cardstate.IsTemp(filepath.Base(f)) {
			t.Errorf("temp file left in the backup: %s", f)
		}
	}
	ix, err := loadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for rel, e := range ix.Files {
		for _, v := range e.Versions {
			h, size, err := hashCardFile(filepath.Join(dir, filepath.FromSlash(v.File)), buf)
			if err != nil || h != v.Hash || size != v.Size {
				t.Errorf("%s: version %s: hash %s size %d (%v), index says %s %d", rel, v.File, h, size, err, v.Hash, v.Size)
			}
		}
	}
}

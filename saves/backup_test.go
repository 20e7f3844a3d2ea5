package saves

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var t0 = time.Date(2026, 11, 20, 18, 30, 0, 0, time.UTC)

func TestBackupVersionsNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	c := newCard(t, t.TempDir(), "onion", "c0ffee")
	backup := t.TempDir()
	const save = "Saves/CurrentProfile/saves/gpSP/Golden Sun (USA).srm"
	const state = "Saves/CurrentProfile/states/gpSP/Golden Sun (USA).state1"
	c.write(save, "v1", t0)
	c.write(state, "s1", t0)

	rep, err := Backup(ctx, c.opts(backup))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Card != "c0ffee" || rep.Seen != 2 || rep.BackedUp != 2 {
		t.Fatalf("first run: %+v", rep)
	}
	// Nothing changed: nothing read, nothing written.
	rep, err = Backup(ctx, c.opts(backup))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unchanged != 2 || rep.BackedUp != 0 || rep.Same != 0 {
		t.Fatalf("unchanged run: %+v", rep)
	}
	// A new save: a new version next to the old one.
	c.write(save, "v2 longer", t0.Add(time.Hour))
	rep, _ = Backup(ctx, c.opts(backup))
	if rep.BackedUp != 1 {
		t.Fatalf("changed run: %+v", rep)
	}
	// The same content again (a touched file, or one put back): stored once.
	c.write(save, "v1", t0.Add(2*time.Hour))
	rep, _ = Backup(ctx, c.opts(backup))
	if rep.BackedUp != 0 || rep.Same != 1 {
		t.Fatalf("same content run: %+v", rep)
	}
	files := versionFiles(t, filepath.Join(backup, "c0ffee"))
	if len(files) != 3 {
		t.Fatalf("backup holds %v, want 2 versions of the save and 1 of the state", files)
	}
	vs, err := List(backup, "", "golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || !vs[1].Newest || vs[0].Newest {
		t.Fatalf("list: %+v", vs)
	}
	for _, v := range vs {
		if !strings.HasPrefix(v.File, "gpSP/Golden Sun (USA)/Golden Sun (USA)@2026112") {
			t.Errorf("version file %s: want gpSP/<game>/<name>@<date>-<hash><ext>", v.File)
		}
		b, err := os.ReadFile(filepath.Join(backup, "c0ffee", v.File))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(filepath.Join(backup, "c0ffee", v.File))
		if !st.ModTime().Equal(v.Mtime) {
			t.Errorf("%s: mtime %v, want the save's %v", v.File, st.ModTime(), v.Mtime)
		}
		if v.Kind == KindSave && string(b) != "v1" && string(b) != "v2 longer" {
			t.Errorf("%s holds %q", v.File, b)
		}
	}
}

func TestBackupStatesOff(t *testing.T) {
	c := newCard(t, t.TempDir(), "muos", "m1")
	c.write("MUOS/save/file/Gambatte/Tetris (World).srm", "s", t0)
	c.write("MUOS/save/state/Gambatte/Tetris (World).state", "st", t0)
	o := c.opts(t.TempDir())
	o.States = false
	rep, err := Backup(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Seen != 1 || rep.BackedUp != 1 {
		t.Fatalf("%+v", rep)
	}
}

func TestBackupKeepPrunesOnlyOldest(t *testing.T) {
	ctx := context.Background()
	c := newCard(t, t.TempDir(), "minui", "k1")
	backup := t.TempDir()
	const save = "Saves/GB/Tetris (World).gb.sav"
	o := c.opts(backup)
	o.Keep = 2
	// A file the user put in the backup by hand is never pruned.
	mine := filepath.Join(backup, "k1", "GB", "Tetris (World)", "my copy.sav")
	if err := os.MkdirAll(filepath.Dir(mine), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c.write(save, strings.Repeat("x", i+1), t0.Add(time.Duration(i)*time.Hour))
		if _, err := Backup(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	vs, _ := List(backup, "k1", "Tetris")
	if len(vs) != 2 {
		t.Fatalf("kept %d versions, want 2: %+v", len(vs), vs)
	}
	if vs[1].Size != 5 || vs[0].Size != 4 {
		t.Errorf("kept sizes %d, %d: want the two newest (4, 5)", vs[0].Size, vs[1].Size)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("the user's own file was pruned: %v", err)
	}
	if got := len(versionFiles(t, filepath.Join(backup, "k1"))); got != 3 {
		t.Errorf("backup holds %d files, want 2 versions + the user's", got)
	}
}

func TestBackupRefusesAbsentCardAndBackup(t *testing.T) {
	c := newCard(t, t.TempDir(), "onion", "a1")
	o := c.opts(filepath.Join(t.TempDir(), "not-mounted"))
	if _, err := Backup(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not there") {
		t.Errorf("absent backup folder: %v", err)
	}
	o = c.opts(filepath.Join(c.root, "Backup"))
	if err := os.Mkdir(o.Backup, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(context.Background(), o); err == nil || !strings.Contains(err.Error(), "off the card") {
		t.Errorf("a backup folder on the card: %v", err)
	}
	o = c.opts(t.TempDir())
	o.Target = filepath.Join(t.TempDir(), "Roms") // an empty mount point
	if err := os.Mkdir(o.Target, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Backup(context.Background(), o)
	if err == nil {
		t.Fatal("a target without marker was backed up")
	}
	if ents, _ := os.ReadDir(o.Backup); len(ents) != 0 {
		t.Errorf("backup written for an absent card: %v", ents)
	}
}

func TestBackupSavesNextToROMs(t *testing.T) {
	c := newCard(t, t.TempDir(), "rocknix", "r1")
	// romsyncd installed Tetris.gb in gb/; the .srm beside it is the console's.
	c.write("roms/gb/Tetris.gb", "rom", t0)
	c.write("roms/gb/Tetris.srm", "save", t0)
	c.write("roms/gb/Notes.sav", "any save-named file romsyncd did not install is a save", t0)
	c.write("roms/savestates/gb/Tetris.state2", "state", t0)
	c.write("roms/other/Zelda.srm", "a folder romsyncd does not manage", t0)
	writeManifest(t, c.target, "gb", "Tetris.gb")
	rep, err := Backup(context.Background(), c.opts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Seen != 3 || rep.BackedUp != 3 {
		t.Fatalf("%+v", rep)
	}
}

func TestLargeUnchangedBackup(t *testing.T) {
	ctx := context.Background()
	c := newCard(t, t.TempDir(), "onion", "big")
	backup := t.TempDir()
	const n = 500
	for i := range n {
		c.write(filepath.Join("Saves/CurrentProfile/saves/Core", strings.Repeat("g", i%7+1)+"-"+itoa(i)+".srm"), strings.Repeat("s", 8192), t0)
	}
	if _, err := Backup(ctx, c.opts(backup)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Backup(ctx, c.opts(backup))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unchanged != n {
		t.Fatalf("%+v", rep)
	}
	t.Logf("backup of %d unchanged saves (tmp dir): %v", n, time.Since(start))
}

func itoa(i int) string { return fmtInt(i) }

func TestRestoreWaitsForNoPass(t *testing.T) {
	ctx := context.Background()
	c := newCard(t, t.TempDir(), "onion", "lk")
	backup := t.TempDir()
	c.write("Saves/CurrentProfile/saves/gpSP/Alpha.srm", "v1", t0)
	if _, err := Backup(ctx, c.opts(backup)); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(c.target, ".romsyncd", "lock")
	f, err := os.Create(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = Restore(ctx, RestoreOptions{Options: c.opts(backup), Game: "Alpha"})
	if err == nil || !strings.Contains(err.Error(), "sync pass is running") {
		t.Fatalf("restore during a pass: %v", err)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if _, err := Restore(ctx, RestoreOptions{Options: c.opts(backup), Game: "Alpha"}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUnchangedBackup: what a backup adds to an insertion when none
// of 500 saves changed (folders listed, attributes compared, no content
// read).
func BenchmarkUnchangedBackup(b *testing.B) {
	root, backup := b.TempDir(), b.TempDir()
	c := &card{root: root, layout: "onion", target: filepath.Join(root, "Roms")}
	if err := os.MkdirAll(filepath.Join(c.target, ".romsyncd"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.target, ".romsyncd", "marker"), []byte(`{"profile":"p","id":"bench"}`), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		p := filepath.Join(root, "Saves/CurrentProfile/saves/Core"+itoa(i%10), "Game "+itoa(i)+".srm")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("s", 32<<10)), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, t0, t0); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := Backup(ctx, c.opts(backup)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := Backup(ctx, c.opts(backup))
		if err != nil || rep.Unchanged != 500 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}

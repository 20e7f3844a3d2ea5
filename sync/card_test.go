package sync

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/platform"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

// daemonProbe is the Options.Probe that profiles.Options sets: probe the
// target filesystem, then adapt to it, with modify_window unset (-1: the
// target's own granularity).
func daemonProbe(ctx context.Context, root, scratch string, o *Options) error {
	info, err := targetfs.Probe(ctx, root, scratch)
	if err != nil {
		return fmt.Errorf("probe target %s: %w", root, err)
	}
	o.Adapt(info, -1)
	return nil
}

// layoutMapper is the MapPlatform profiles.Options builds for a layout.
func layoutMapper(t *testing.T, layout string) func(string) (string, bool, string) {
	t.Helper()
	l, err := platform.NewLayout(platform.Options{Layout: layout})
	require.NoError(t, err)
	return func(name string) (string, bool, string) {
		folder, _, ok, reason := l.Map(name)
		return folder, ok, reason
	}
}

const (
	datGBA  = "Nintendo - Game Boy Advance"
	datSNES = "Nintendo - Super Nintendo Entertainment System"
	datPSX  = "Sony - PlayStation"
	datGB   = "Nintendo - Game Boy"
	datGBC  = "Nintendo - Game Boy Color"
)

// cardLayouts are the device folders each layout uses for the DAT folders.
var cardLayouts = map[string]map[string]string{
	"onion":  {datGBA: "GBA", datSNES: "SFC", datPSX: "PS", datGB: "GB", datGBC: "GBC"},
	"es":     {datGBA: "gba", datSNES: "snes", datPSX: "psx", datGB: "gb", datGBC: "gbc"},
	"mister": {datGBA: "GBA", datSNES: "SNES", datPSX: "PSX", datGB: "Gameboy", datGBC: "Gameboy"},
}

var (
	pokemonNFD = norm.NFD.String("Pokémon - Red Version (USA, Europe).gb")
	colonName  = "Star Wars: Flight of the Falcon? (USA).gba"
	hugeName   = "Gran Turismo 4 (USA).iso"
)

type cardFile struct {
	rel   string // library path
	data  []byte
	mtime time.Time
}

// cardLibrary is a small DAT-named library with every problem a card has:
// names FAT rejects, a case-only pair, an NFD name, odd-second and
// sub-second mtimes, litter.
func cardLibrary() []cardFile {
	at := func(sec, nsec int) time.Time { return time.Date(2023, 6, 7, 8, 9, sec, nsec, time.UTC) }
	return []cardFile{
		{datGBA + "/Advance Wars (USA).gba", content("aw", 256<<10), at(11, 123456789)}, // odd, sub-second
		{datGBA + "/" + colonName, content("sw", 64<<10), at(12, 0)},
		{datGBA + "/Golden Sun (USA, Europe).gba", content("gs", 128<<10), at(13, 0)}, // odd second
		{datSNES + "/Super Mario World (USA).sfc", content("smw", 512<<10), at(14, 500000000)},
		{datPSX + "/Final Fantasy VII (USA) (Disc 1).bin", content("ff7", 1<<20+3), at(15, 999999999)},
		{datGB + "/Zelda (USA).gb", content("z1", 1000), at(16, 0)},
		{datGB + "/zelda (usa).gb", content("z2", 1001), at(17, 0)},
		{datGB + "/" + pokemonNFD, content("pkmn", 1<<10), at(18, 1)},
		{datGB + "/Tetris (World) (Rev 1).gb", content("tetris", 32<<10), at(19, 0)},
		{datGBC + "/Tetris DX (World).gbc", content("tdx", 64<<10), at(21, 250000000)},
		{datGBC + "/empty.gbc", nil, at(23, 0)},
		// Litter: never copied.
		{datGBA + "/._Advance Wars (USA).gba", []byte("mac"), at(0, 0)},
		{datGBA + "/.DS_Store", []byte("mac"), at(0, 0)},
		{".DS_Store", []byte("mac"), at(0, 0)},
		{datGB + "/Thumbs.db", []byte("win"), at(0, 0)},
	}
}

type cardCase struct {
	fs     string // "exFAT", "FAT32"
	layout string
}

func TestCardMirror(t *testing.T) {
	for _, c := range []cardCase{
		{"exFAT", "onion"}, {"exFAT", "es"}, {"exFAT", "mister"},
		{"FAT32", "onion"}, {"FAT32", "es"},
	} {
		t.Run(c.fs+"/"+c.layout, func(t *testing.T) { testCardMirror(t, c) })
	}
}

func testCardMirror(t *testing.T, c cardCase) {
	var mnt string
	fat32 := c.fs == "FAT32"
	if fat32 {
		mnt = testfs.FAT32(t, "64M")
	} else {
		mnt = testfs.ExFAT(t, "64M")
	}
	base := t.TempDir()
	src := filepath.Join(base, "library")
	files := cardLibrary()
	for _, f := range files {
		p := filepath.Join(src, filepath.FromSlash(f.rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, f.data, 0o644))
		require.NoError(t, os.Chtimes(p, f.mtime, f.mtime))
	}
	if fat32 {
		// A PS2-sized disc image FAT32 cannot hold: sparse, never read.
		p := filepath.Join(src, datPSX, hugeName)
		fh, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, fh.Truncate(4<<30+512<<20))
		require.NoError(t, fh.Close())
	}

	folders := cardLayouts[c.layout]
	target := filepath.Join(mnt, "Roms")
	opts := Options{
		Profile: "card-" + c.layout, Source: src, Target: target, Delete: true, Workers: 2, Verify: true,
		StateDir: filepath.Join(base, "state"), MapPlatform: layoutMapper(t, c.layout), Probe: daemonProbe,
	}

	// What the card must hold, by target path, and why the rest is left out.
	h := newHistory()
	want := map[string][]byte{}
	skipped := map[string]string{}
	conflicts := map[string]bool{}
	mtimes := map[string]time.Time{}
	for _, f := range files {
		dir, name := path.Split(f.rel)
		dir = path.Clean(dir)
		if alwaysSkipped(name, false) {
			continue
		}
		switch {
		case name == "Zelda (USA).gb" || name == "zelda (usa).gb":
			conflicts[f.rel] = true
			continue
		case fat32 && (name == colonName || name == pokemonNFD):
			skipped[f.rel] = "ASCII"
			continue
		}
		tname := norm.NFC.String(name)
		if !fat32 {
			tname = map[string]string{colonName: "Star Wars\uff1a Flight of the Falcon\uff1f (USA).gba"}[name] + ""
			if tname == "" {
				tname = norm.NFC.String(name)
			}
		}
		tp := folders[dir] + "/" + tname
		want[tp] = f.data
		mtimes[tp] = f.mtime
		h.saw(tp, f.data)
	}
	if fat32 {
		skipped[datPSX+"/"+hugeName] = "too large"
	}
	wantFolders := map[string]bool{}
	for _, d := range folders {
		wantFolders[d] = true
	}

	r, err := runPass(context.Background(), t, opts)
	require.NoError(t, err)
	t.Logf("first pass: copied %d, %d bytes, skipped %v, conflicts %v", r.Copied, r.CopiedBytes, r.Skipped, r.Conflicts)
	assert.Equal(t, len(want), r.Copied)
	assert.Empty(t, r.Errors)
	assert.False(t, r.InSync, "conflicts and skipped files are reported")

	gotConflicts := map[string]bool{}
	for _, it := range r.Conflicts {
		gotConflicts[it.Path] = true
		assert.Contains(t, it.Reason, "same target name", it.Path)
	}
	assert.Equal(t, conflicts, gotConflicts, "both of the case-only pair are conflicts")
	sk := reasons(r.Skipped)
	assert.Len(t, sk, len(skipped), "%v", sk)
	for rel, why := range skipped {
		assert.Contains(t, sk[rel], why, rel)
	}

	// Exactly the layout's folders, spelled as the layout says.
	ents, err := os.ReadDir(target)
	require.NoError(t, err)
	gotFolders := map[string]bool{}
	for _, d := range ents {
		if d.Name() != cardstate.MetaDirName {
			assert.True(t, d.IsDir(), d.Name())
			gotFolders[d.Name()] = true
		}
	}
	assert.Equal(t, wantFolders, gotFolders)
	// Exactly the expected files, byte-identical; on exFAT with the
	// library's mtime cut to whole seconds. (fusefat sets the mtime of a
	// renamed file to the time of the rename, measured here on real
	// images, so on FAT32 only the second pass's no-op is checked.)
	got := readTree(t, target)
	assert.ElementsMatch(t, keys(want), keys(got))
	for tp, data := range want {
		assert.True(t, string(data) == got[tp], "content of %s", tp)
		info, err := os.Stat(filepath.Join(target, filepath.FromSlash(tp)))
		if assert.NoError(t, err) && !fat32 {
			d := mtimes[tp].Sub(info.ModTime())
			assert.True(t, d >= 0 && d < time.Second, "mtime of %s: %v, library %v", tp, info.ModTime(), mtimes[tp])
		}
	}
	checkManifests(t, target, true)
	assert.Empty(t, tempFiles(t, target))

	// The device adds a save and a dot-folder next to the games.
	user := map[string]string{
		folders[datGBA] + "/Advance Wars (USA).sav":    "save",
		folders[datGBA] + "/.Game Name/x":              "onion",
		folders[datGB] + "/Tetris (World) (Rev 1).sav": "save2",
	}
	for p, data := range user {
		fp := filepath.Join(target, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(fp), 0o755))
		require.NoError(t, os.WriteFile(fp, []byte(data), 0o644))
	}

	// The card is pulled and inserted again: the second pass copies nothing
	// and reads no content.
	testfs.Unmount(t, mnt, false)
	testfs.Remount(t, mnt)
	before := snapshot(t, target)
	r, err = runPass(context.Background(), t, opts)
	require.NoError(t, err)
	assert.Zero(t, r.Copied, "%+v", r)
	assert.Zero(t, r.HashedBytes, "a second pass hashes nothing")
	assert.Equal(t, len(want), r.Unchanged)
	assert.Zero(t, r.Deleted)
	assert.Len(t, r.Conflicts, len(conflicts))
	assert.Len(t, r.Skipped, len(skipped))
	assert.Equal(t, before, snapshot(t, target), "a second pass writes nothing")

	// The library loses the GBA folder and one GB game: their files go,
	// the device's files stay.
	require.NoError(t, os.RemoveAll(filepath.Join(src, datGBA)))
	require.NoError(t, os.Remove(filepath.Join(src, datGB, "Tetris (World) (Rev 1).gb")))
	gone := 0
	for tp := range want {
		if path.Dir(tp) == folders[datGBA] || tp == folders[datGB]+"/Tetris (World) (Rev 1).gb" {
			delete(want, tp)
			gone++
		}
	}
	r, err = runPass(context.Background(), t, opts)
	require.NoError(t, err)
	assert.Equal(t, gone, r.Deleted)
	assert.Zero(t, r.HashedBytes)
	got = readTree(t, target)
	for p, data := range user {
		assert.Equal(t, data, got[p], "device file %s", p)
		delete(got, p)
	}
	assert.ElementsMatch(t, keys(want), keys(got))
	checkTarget(t, target, h, user, false)
	checkManifests(t, target, true)

	list := keys(got)
	sort.Strings(list)
	t.Logf("%s %s card holds %v", c.fs, c.layout, list)
}

// TestCardCaseOnlyRename: the library renames a game by case only; the
// case-insensitive card ends up with the new spelling, under one entry,
// and the next pass is a no-op.
func TestCardCaseOnlyRename(t *testing.T) {
	for _, kind := range []string{"exFAT", "FAT32"} {
		t.Run(kind, func(t *testing.T) {
			mnt := mountCard(t, kind)
			e := newRealEnv(t, filepath.Join(mnt, "Roms"))
			e.opts.Probe = daemonProbe
			e.lib(t, "gbc/tetris dx (world).gbc", content("tdx", 64<<10))
			e.lib(t, "gbc/other.gbc", content("o", 1000))
			mustRun(t, e.opts)

			old := filepath.Join(e.src, "gbc/tetris dx (world).gbc")
			renamed := filepath.Join(e.src, "gbc/Tetris DX (World).gbc")
			require.NoError(t, os.Rename(old, renamed))
			e.h.rememberLibrary(t, e.src)
			r := mustRun(t, e.opts)
			assert.True(t, r.InSync, "%+v", r)
			names := dirNames(mustReadDir(t, filepath.Join(e.dst, "gbc")))
			assert.Equal(t, map[string]bool{"Tetris DX (World).gbc": true, "other.gbc": true}, names)
			e.check(t)
			checkManifests(t, e.dst, true)

			r = mustRun(t, e.opts)
			assert.True(t, r.InSync, "%+v", r)
			assert.Zero(t, r.Copied)
			assert.Zero(t, r.HashedBytes)

			// And it still is owned: removing it from the library removes it.
			require.NoError(t, os.Remove(renamed))
			r = mustRun(t, e.opts)
			assert.Equal(t, 1, r.Deleted)
			assert.Equal(t, map[string]bool{"other.gbc": true}, dirNames(mustReadDir(t, filepath.Join(e.dst, "gbc"))))
		})
	}
}

func mountCard(t *testing.T, kind string) string {
	t.Helper()
	if kind == "FAT32" {
		return testfs.FAT32(t, "64M")
	}
	return testfs.ExFAT(t, "64M")
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	return ents
}

// TestCardFolderNameTheCardCannotStore: a library folder below a platform
// whose name the card cannot store (fusefat takes only ASCII names) must be
// reported with its files, not dropped silently with the pass in sync.
func TestCardFolderNameTheCardCannotStore(t *testing.T) {
	mnt := mountCard(t, "FAT32")
	e := newRealEnv(t, filepath.Join(mnt, "Roms"))
	e.opts.Probe = daemonProbe
	e.lib(t, "psx/Pokémon Stadium (Disc 1)/track01.bin", content("t1", 1000))
	e.lib(t, "psx/ok.bin", content("ok", 1000))
	r := mustRun(t, e.opts)
	assert.Equal(t, 1, r.Copied)
	assert.False(t, r.InSync, "a folder the card cannot hold is a problem the user must see")
	assert.Contains(t, reasons(r.Skipped), "psx/Pokémon Stadium (Disc 1)/track01.bin")
}

// TestCardFull: a library larger than the card. Every file that fits is
// copied, each one that does not is skipped with how much it needs and how
// much the card has (exit 1, not a refusal), what is on the card is
// complete and owned, and after the user frees room (a bigger card would
// do too) the next pass converges. (FAT32 passes too, but fusefat writes
// about 5 MiB/s: filling even a 64 MiB image takes 20 s.)
func TestCardFull(t *testing.T) {
	for _, kind := range []string{"exFAT"} {
		t.Run(kind, func(t *testing.T) {
			mnt := testfs.ExFAT(t, "16M") // 14 MiB free
			e := newRealEnv(t, filepath.Join(mnt, "Roms"))
			e.opts.Probe = daemonProbe
			// The card also holds the user's own files, outside the target.
			boxart := filepath.Join(mnt, "Imgs", "boxart.bin")
			require.NoError(t, os.MkdirAll(filepath.Dir(boxart), 0o755))
			require.NoError(t, os.WriteFile(boxart, content("boxart", 6<<20), 0o644))
			for i := range 4 {
				e.lib(t, fmt.Sprintf("psx/disc%d.bin", i), content(fmt.Sprint("disc", i), 2<<20))
			}
			e.lib(t, "gb/small.gb", content("small", 1000))
			r, err := runPass(context.Background(), t, e.opts)
			require.NoError(t, err, "%+v", r)
			assert.False(t, r.InSync)
			require.NotEmpty(t, r.Skipped)
			for _, it := range r.Skipped {
				assert.Equal(t, outcome.NoRoom, it.Skip, "%+v", it)
				assert.Contains(t, it.Reason, "does not fit: needs 2.0 MiB")
			}
			assert.Equal(t, 5, r.Copied+len(r.Skipped), "%+v", r)
			assert.Contains(t, readTree(t, e.dst), "gb/small.gb", "a small file after a large one that does not fit is copied")
			e.check(t)

			require.NoError(t, os.Remove(boxart))
			r = mustRun(t, e.opts)
			assert.True(t, r.InSync, "%+v", r)
			e.converged(t)
		})
	}
}

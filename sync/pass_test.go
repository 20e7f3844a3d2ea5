package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTree creates files (relative path → content) under root with
// distinct, fixed mtimes.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	i := 0
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(root, filepath.FromSlash(n))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(files[n]), 0o644))
		mt := time.Date(2024, 1, 2, 3, 4, 5+i, 123456789, time.UTC)
		require.NoError(t, os.Chtimes(p, mt, mt))
		i++
	}
}

// readTree returns every regular file under root (relative path → content),
// leaving out romsyncd's .romsyncd folder.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == cardstate.MetaDirName {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

type env struct {
	src, dst, state string
	opts            Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	base := t.TempDir()
	e := &env{src: filepath.Join(base, "library"), dst: filepath.Join(base, "card", "Roms"), state: filepath.Join(base, "state")}
	require.NoError(t, os.MkdirAll(e.src, 0o755))
	e.opts = Options{Profile: "test", Source: e.src, Target: e.dst, Delete: true, Workers: 2, Verify: true, StateDir: e.state}
	return e
}

func (e *env) pass(t *testing.T) (*Report, error) {
	t.Helper()
	s, err := Open(context.Background(), e.opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Pass(context.Background(), Scope{All: true})
}

func (e *env) mustPass(t *testing.T) *Report {
	t.Helper()
	r, err := e.pass(t)
	require.NoError(t, err)
	require.NotNil(t, r)
	return r
}

func TestFirstMirrorThenNoop(t *testing.T) {
	e := newEnv(t)
	lib := map[string]string{
		"Nintendo - Game Boy/Tetris (World).gb":               strings.Repeat("t", 40000),
		"Nintendo - Game Boy/Zelda, The (USA) (Rev 1).gb":     "zelda",
		"Sega - Mega Drive - Genesis/Sonic & Knuckles (W).md": "sonic",
		"Sega - Mega Drive - Genesis/empty.md":                "",
		"Sony - PlayStation/Game (Disc 1)/track01.bin":        strings.Repeat("p", 3<<20),
	}
	writeTree(t, e.src, lib)
	// Litter never copied.
	writeTree(t, e.src, map[string]string{"Nintendo - Game Boy/._Tetris (World).gb": "x", ".DS_Store": "x", "Nintendo - Game Boy/Thumbs.db": "x"})

	r := e.mustPass(t)
	assert.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 5, r.Copied)
	assert.Equal(t, int64(40000+5+5+3<<20), r.CopiedBytes)
	assert.Equal(t, lib, readTree(t, e.dst))
	assert.Positive(t, r.HashedBytes)
	// mtimes are carried over.
	for rel := range lib {
		a, _ := os.Stat(filepath.Join(e.src, rel))
		b, _ := os.Stat(filepath.Join(e.dst, rel))
		assert.True(t, a.ModTime().Equal(b.ModTime()), rel)
	}

	before := snapshot(t, e.dst)
	r = e.mustPass(t)
	assert.True(t, r.InSync)
	assert.Equal(t, 0, r.Copied)
	assert.Equal(t, 5, r.Unchanged)
	assert.Zero(t, r.HashedBytes, "a no-op pass reads no content")
	assert.Equal(t, before, snapshot(t, e.dst), "a no-op pass writes nothing")
}

// snapshot records every path under root (including .romsyncd) with its
// size, mtime and inode, to prove a pass wrote nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p] = "dir"
			return nil
		}
		out[p] = fmt.Sprintf("%s/%d", info.ModTime(), info.Size())
		return nil
	}))
	return out
}

func TestReplaceDeleteAndUpdateMode(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a1", "gb/b.gb": "b1", "gb/c.gb": "c1", "gb/d.gb": "d1"})
	e.mustPass(t)

	// Replace a with new content and a new mtime; remove b.
	require.NoError(t, os.WriteFile(filepath.Join(e.src, "gb/a.gb"), []byte("a2-longer"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/b.gb")))
	r := e.mustPass(t)
	assert.Equal(t, 1, r.Copied)
	assert.Equal(t, 1, r.Replaced)
	assert.Equal(t, 1, r.Deleted)
	assert.Equal(t, map[string]string{"gb/a.gb": "a2-longer", "gb/c.gb": "c1", "gb/d.gb": "d1"}, readTree(t, e.dst))

	// update mode never deletes.
	e.opts.Delete = false
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/c.gb")))
	r = e.mustPass(t)
	assert.Equal(t, 0, r.Deleted)
	assert.Contains(t, readTree(t, e.dst), "gb/c.gb")
}

func TestUserFilesAreNeverTouched(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a1", "gb/b.gb": "b1"})
	e.mustPass(t)
	// The user (or the device) adds a save, a dot-folder, and a file under a
	// name the library will use later.
	user := map[string]string{"gb/a.srm": "save", "gb/.Game/disc.bin": "onion", "gb/new.gb": "mine", "Imgs/a.png": "png"}
	writeTree(t, e.dst, user)
	writeTree(t, e.src, map[string]string{"gb/new.gb": "library"})
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/b.gb")))

	r, err := e.pass(t)
	require.NoError(t, err)
	assert.False(t, r.InSync)
	require.Len(t, r.Conflicts, 1)
	assert.Equal(t, "gb/new.gb", r.Conflicts[0].Path)
	assert.Contains(t, r.Conflicts[0].Reason, "did not install")
	got := readTree(t, e.dst)
	for p, c := range user {
		assert.Equal(t, c, got[p], p)
	}
	assert.NotContains(t, got, "gb/b.gb")
	assert.Equal(t, 1, r.Deleted)
}

// foldNames is a case-insensitive target's naming.
type foldNames struct{}

func (foldNames) Map(n string) (string, error) { return n, nil }
func (foldNames) Key(n string) string          { return strings.ToLower(n) }

func TestTwoLibraryPathsOneTargetAreAConflict(t *testing.T) {
	e := newEnv(t)
	e.opts.Names = foldNames{}
	writeTree(t, e.src, map[string]string{"gb/Zelda (USA).gb": "one", "gb/zelda (usa).gb": "two", "gb/ok.gb": "ok"})
	r, err := e.pass(t)
	require.NoError(t, err)
	assert.Len(t, r.Conflicts, 2)
	assert.Equal(t, map[string]string{"gb/ok.gb": "ok"}, readTree(t, e.dst), "neither conflicting file is written")
	assert.False(t, r.InSync)
}

func TestTwoLibraryFoldersMergeIntoOne(t *testing.T) {
	e := newEnv(t)
	e.opts.MapPlatform = func(name string) (string, bool, string) {
		switch name {
		case "Nintendo - Game Boy", "Nintendo - Game Boy Color":
			return "Gameboy", true, ""
		}
		return name, true, ""
	}
	writeTree(t, e.src, map[string]string{
		"Nintendo - Game Boy/a.gb": "a", "Nintendo - Game Boy Color/b.gbc": "b",
		"Nintendo - Game Boy/same.rom": "1", "Nintendo - Game Boy Color/same.rom": "2",
	})
	r, err := e.pass(t)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Gameboy/a.gb": "a", "Gameboy/b.gbc": "b"}, readTree(t, e.dst))
	assert.Len(t, r.Conflicts, 2)

	// The daemon's scoped pass of one feeder still sees the other.
	s, err := Open(context.Background(), e.opts)
	require.NoError(t, err)
	defer s.Close()
	writeTree(t, e.src, map[string]string{"Nintendo - Game Boy/c.gb": "c"})
	r, err = s.Pass(context.Background(), Scope{Dirs: []string{"Nintendo - Game Boy"}})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Copied)
	assert.Equal(t, 0, r.Deleted, "files of the other feeder are not deletion candidates")
	assert.Equal(t, map[string]string{"Gameboy/a.gb": "a", "Gameboy/b.gbc": "b", "Gameboy/c.gb": "c"}, readTree(t, e.dst))
}

func TestMarkerAndFirstPassRule(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	r := e.mustPass(t)
	assert.True(t, r.Created)

	// The card is gone: its folder vanished. It is never created again.
	require.NoError(t, os.RemoveAll(filepath.Dir(e.dst)))
	_, err := e.pass(t)
	require.ErrorIs(t, err, outcome.ErrTargetOffline)
	_, serr := os.Stat(e.dst)
	assert.ErrorIs(t, serr, fs.ErrNotExist)

	// A folder without marker (an empty mount point, another card).
	require.NoError(t, os.MkdirAll(e.dst, 0o755))
	_, err = e.pass(t)
	require.ErrorIs(t, err, outcome.ErrMarkerMissing)
	assert.Contains(t, err.Error(), "romsyncd init --profile test")
	ents, _ := os.ReadDir(e.dst)
	assert.Empty(t, ents, "nothing written into an unmarked target")

	// Another profile's card.
	other := e.opts
	other.Profile = "other"
	other.StateDir = ""
	_, err = Init(context.Background(), other)
	require.NoError(t, err)
	_, err = e.pass(t)
	require.ErrorIs(t, err, outcome.ErrWrongProfile)
}

func TestUnmountedFstabMountIsNeverFilled(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	e.opts.Unmounted = func(p string) (string, bool, error) { return filepath.Dir(e.dst), true, nil }
	_, err := e.pass(t)
	require.ErrorIs(t, err, outcome.ErrTargetOffline)
	_, serr := os.Stat(e.dst)
	assert.ErrorIs(t, serr, fs.ErrNotExist)
}

func TestEmptyOrMissingSourceDeletesNothing(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"})
	e.mustPass(t)

	// The NAS is unmounted: its mount point is an empty folder.
	require.NoError(t, os.RemoveAll(e.src))
	require.NoError(t, os.MkdirAll(e.src, 0o755))
	_, err := e.pass(t)
	require.ErrorIs(t, err, outcome.ErrSourceOffline)
	assert.Len(t, readTree(t, e.dst), 2)

	require.NoError(t, os.RemoveAll(e.src))
	_, err = e.pass(t)
	require.ErrorIs(t, err, outcome.ErrSourceOffline)
	assert.Len(t, readTree(t, e.dst), 2)
}

type countLimit int

func (c countLimit) Allows(n, _ int) bool { return n <= int(c) }
func (c countLimit) String() string       { return "count" }

func TestMaxDeleteRefusesThePassDeletions(t *testing.T) {
	e := newEnv(t)
	e.opts.MaxDelete = countLimit(1)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "gb/b.gb": "b", "gb/c.gb": "c", "nes/x.nes": "x"})
	e.mustPass(t)
	require.NoError(t, os.RemoveAll(filepath.Join(e.src, "gb")))
	r, err := e.pass(t)
	require.ErrorIs(t, err, outcome.ErrTooManyDeletes)
	assert.Equal(t, 0, r.Deleted)
	assert.Len(t, readTree(t, e.dst), 4)
	assert.False(t, r.InSync)
}

func TestStaleTempFilesAndInterruptedInstallsRecover(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a-old", "gb/b.gb": "b"})
	e.mustPass(t)

	// A killed run left a temp file, and crashed after recording a pending
	// install of a new version of a.gb and renaming it, before committing.
	stale := filepath.Join(e.dst, "gb", cardstate.TempPrefix+"123"+cardstate.TempSuffix)
	require.NoError(t, os.WriteFile(stale, []byte("half"), 0o644))
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a-new"})
	mans, err := cardstate.LoadManifests(filepath.Join(e.dst, cardstate.MetaDirName))
	require.NoError(t, err)
	f := mans["gb"]
	info, _ := os.Stat(filepath.Join(e.src, "gb/a.gb"))
	f.Files["a.gb"].Pending = &cardstate.PendingInstall{Source: "gb/a.gb", SrcSize: info.Size(), SrcMtime: info.ModTime().UnixNano(), Size: 5, Hash: cardstate.Hash(xxhash.Sum64String("a-new"))}
	require.NoError(t, cardstate.WriteManifest(filepath.Join(e.dst, cardstate.MetaDirName), f, true))
	require.NoError(t, os.WriteFile(filepath.Join(e.dst, "gb/a.gb"), []byte("a-new"), 0o644))

	r := e.mustPass(t)
	assert.True(t, r.InSync, "%+v", r)
	_, err = os.Stat(stale)
	assert.ErrorIs(t, err, fs.ErrNotExist, "stale temp file removed")
	assert.Equal(t, "a-new", readTree(t, e.dst)["gb/a.gb"])
	assert.Equal(t, 0, r.Deleted)
	// The recovered file is owned: deleting it from the library deletes it.
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/a.gb")))
	r = e.mustPass(t)
	assert.Equal(t, 1, r.Deleted)
}

func TestDriftOnTheTargetIsRepaired(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "aaaa", "gb/b.gb": "bbbb"})
	e.mustPass(t)
	require.NoError(t, os.Remove(filepath.Join(e.dst, "gb/a.gb")))
	require.NoError(t, os.WriteFile(filepath.Join(e.dst, "gb/b.gb"), []byte("damaged"), 0o644))
	r := e.mustPass(t)
	assert.Equal(t, 2, r.Copied)
	assert.Equal(t, map[string]string{"gb/a.gb": "aaaa", "gb/b.gb": "bbbb"}, readTree(t, e.dst))
}

func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"})
	e.mustPass(t)
	writeTree(t, e.src, map[string]string{"gb/c.gb": "c"})
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/a.gb")))
	before := snapshot(t, e.dst)
	e.opts.DryRun = true
	r := e.mustPass(t)
	assert.Equal(t, before, snapshot(t, e.dst))
	kinds := map[string]Kind{}
	for _, p := range r.Plan {
		kinds[p.Path] = p.Kind
	}
	assert.Equal(t, map[string]Kind{"gb/c.gb": KindCopy, "gb/a.gb": KindDelete}, kinds)
	assert.False(t, r.InSync)
}

func TestLinksOnTheCardAreNeverWrittenThrough(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "nes/b.nes": "b"})
	e.mustPass(t)
	outside := t.TempDir()
	require.NoError(t, os.RemoveAll(filepath.Join(e.dst, "nes")))
	require.NoError(t, os.Symlink(outside, filepath.Join(e.dst, "nes")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(e.dst, "gb", "c.gb")))
	writeTree(t, e.src, map[string]string{"gb/c.gb": "c"})
	r, err := e.pass(t)
	require.NoError(t, err)
	ents, _ := os.ReadDir(outside)
	assert.Empty(t, ents, "nothing written through a link")
	assert.NotEmpty(t, r.Errors)
	assert.NotEmpty(t, r.Conflicts)
	assert.False(t, r.InSync)
}

func TestSymlinksInTheLibrary(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	outside := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(outside, []byte("s"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(e.src, "gb", "out.gb")))
	require.NoError(t, os.Symlink("a.gb", filepath.Join(e.src, "gb", "alias.gb")))
	require.NoError(t, os.Symlink("..", filepath.Join(e.src, "gb", "loop")))
	r, err := e.pass(t)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"gb/a.gb": "a", "gb/alias.gb": "a"}, readTree(t, e.dst))
	reasons := map[string]string{}
	for _, s := range r.Skipped {
		reasons[s.Path] = s.Reason
	}
	assert.Contains(t, reasons["gb/out.gb"], "outside")
	assert.Contains(t, reasons["gb/loop"], "not followed")
}

func TestInitAdoptsExistingCopies(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "same", "gb/b.gb": "library", "gb/c.gb": "new"})
	writeTree(t, e.dst, map[string]string{"gb/a.gb": "same", "gb/b.gb": "different", "gb/save.srm": "x"})
	r, err := Init(context.Background(), e.opts)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Adopted)
	assert.Len(t, r.Conflicts, 1)

	r, err = e.pass(t)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Copied, "only the new file")
	require.Len(t, r.Conflicts, 1)
	assert.Equal(t, "gb/b.gb", r.Conflicts[0].Path)
	assert.Equal(t, "different", readTree(t, e.dst)["gb/b.gb"])
}

func TestLockKeepsASecondRunOut(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	s, err := Open(context.Background(), e.opts)
	require.NoError(t, err)
	defer s.Close()
	_, err = Open(context.Background(), e.opts)
	require.True(t, errors.Is(err, outcome.ErrTargetBusy), "%v", err)
}

func TestMovesInTheLibraryAreMovesOnTheTarget(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("0123456789abcdef", 4<<20) // 64 MiB
	writeTree(t, e.src, map[string]string{"psx/Game (USA).bin": big, "gb/a.gb": "a"})
	e.mustPass(t)
	ino := func(p string) uint64 {
		info, err := os.Stat(p)
		require.NoError(t, err)
		return info.Sys().(*syscall.Stat_t).Ino
	}
	before := ino(filepath.Join(e.dst, "psx/Game (USA).bin"))

	// Rename inside the folder and move the other file across folders.
	require.NoError(t, os.MkdirAll(filepath.Join(e.src, "psx/Game (USA)"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(e.src, "psx/Game (USA).bin"), filepath.Join(e.src, "psx/Game (USA)/Game (USA) (Track 1).bin")))
	require.NoError(t, os.MkdirAll(filepath.Join(e.src, "gbc"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(e.src, "gb/a.gb"), filepath.Join(e.src, "gbc/a.gb")))
	r := e.mustPass(t)
	assert.Equal(t, 2, r.Renamed)
	assert.Equal(t, 0, r.Copied)
	assert.Equal(t, 0, r.Deleted)
	assert.Equal(t, int64(len(big)+1), r.HashedBytes, "the library file is read once to prove identity, nothing else")
	assert.Equal(t, map[string]string{"psx/Game (USA)/Game (USA) (Track 1).bin": big, "gbc/a.gb": "a"}, readTree(t, e.dst))
	assert.Equal(t, before, ino(filepath.Join(e.dst, "psx/Game (USA)/Game (USA) (Track 1).bin")), "moved, not copied")

	r = e.mustPass(t)
	assert.True(t, r.InSync)
	assert.Zero(t, r.HashedBytes)
	// The moved files are owned under their new names.
	require.NoError(t, os.Remove(filepath.Join(e.src, "gbc/a.gb")))
	r = e.mustPass(t)
	assert.Equal(t, 1, r.Deleted)
}

func TestScopedPassOfAVanishedLibraryDeletesNothing(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "nes/b.nes": "b"})
	s, err := Open(context.Background(), e.opts)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Pass(context.Background(), Scope{All: true})
	require.NoError(t, err)

	// The NAS is unmounted: the daemon hears that gb and nes went away.
	require.NoError(t, os.RemoveAll(e.src))
	require.NoError(t, os.MkdirAll(e.src, 0o755))
	r, err := s.Pass(context.Background(), Scope{Dirs: []string{"gb", "nes"}})
	require.ErrorIs(t, err, outcome.ErrSourceOffline)
	assert.Equal(t, 0, r.Deleted)
	assert.Len(t, readTree(t, e.dst), 2)
}

func TestMovingAWholeFolderIsNotADeletionStorm(t *testing.T) {
	e := newEnv(t)
	e.opts.MaxDelete = countLimit(0)
	writeTree(t, e.src, map[string]string{"Game Boy/a.gb": "aaaa", "Game Boy/b.gb": "bbbb", "nes/c.nes": "c"})
	e.mustPass(t)
	require.NoError(t, os.Rename(filepath.Join(e.src, "Game Boy"), filepath.Join(e.src, "gb")))
	r := e.mustPass(t)
	assert.Equal(t, 2, r.Renamed)
	assert.Equal(t, 0, r.Deleted)
	assert.True(t, r.InSync, "%+v", r)
	assert.Equal(t, map[string]string{"gb/a.gb": "aaaa", "gb/b.gb": "bbbb", "nes/c.nes": "c"}, readTree(t, e.dst))
	_, err := os.Stat(filepath.Join(e.dst, "Game Boy"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the emptied folder romsyncd created is removed")
}

// TestNewExcludeIsNoDeletion: files the profile newly excludes stay on the
// card, and are neither planned as deletions (dry run) nor counted against
// max_delete (a large new exclude used to trip it without deleting
// anything).
func TestNewExcludeIsNoDeletion(t *testing.T) {
	e := newEnv(t)
	lib := map[string]string{"gb/keep.gb": "k"}
	for i := range 6 {
		lib[fmt.Sprintf("gb/hack %d.gb", i)] = fmt.Sprint(i)
	}
	writeTree(t, e.src, lib)
	e.mustPass(t)
	e.opts.Exclude = []string{"**/hack*"}
	e.opts.MaxDelete = countLimit(1)
	dry := e.opts
	dry.DryRun = true
	s, err := Open(context.Background(), dry)
	require.NoError(t, err)
	r, err := s.Pass(context.Background(), Scope{All: true})
	s.Close()
	require.NoError(t, err)
	assert.Empty(t, r.Plan, "%+v", r.Plan)
	r = e.mustPass(t)
	assert.True(t, r.InSync, "%+v", r)
	assert.Zero(t, r.Deleted)
	assert.Len(t, readTree(t, e.dst), 7)
}

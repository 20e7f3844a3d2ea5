package sync

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/platform"
	"github.com/romsyncd/romsyncd/sync/cardstate"
)

const datPS = "Sony - PlayStation"

// discEnv is a library with a PlayStation folder mirrored with a layout.
type discEnv struct {
	src, dst string
	opts     Options
	ps       string // the layout's PlayStation folder
	style    DiscStyle
	mtime    time.Time
}

func newDiscEnv(t *testing.T, layout, dst string, probe bool) *discEnv {
	t.Helper()
	base := t.TempDir()
	l, err := platform.NewLayout(platform.Options{Layout: layout})
	require.NoError(t, err)
	ps, _, ok, _ := l.Map(datPS)
	require.True(t, ok)
	style, _ := l.DiscStyle()
	e := &discEnv{src: filepath.Join(base, "library"), dst: dst, ps: ps, style: DiscStyle(style),
		mtime: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	require.NoError(t, os.MkdirAll(e.src, 0o755))
	e.opts = Options{Profile: "discs", Source: e.src, Target: dst, Delete: true, Workers: 2, Verify: true,
		StateDir: filepath.Join(base, "state"), MapPlatform: layoutMapper(t, layout), DiscStyle: e.style}
	if probe {
		e.opts.Probe = daemonProbe
	}
	return e
}

func (e *discEnv) lib(t *testing.T, name, data string) {
	t.Helper()
	p := filepath.Join(e.src, datPS, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	require.NoError(t, os.Chtimes(p, e.mtime, e.mtime))
}

func (e *discEnv) rm(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, os.Remove(filepath.Join(e.src, datPS, filepath.FromSlash(name))))
}

// card lists every file on the card but romsyncd's own, with its content.
func (e *discEnv) card(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(e.dst, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() && d.Name() == cardstate.MetaDirName {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(e.dst, p)
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	}))
	return out
}

// dirs lists the folders on the card but romsyncd's own.
func (e *discEnv) dirs(t *testing.T) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(e.dst, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() && d.Name() == cardstate.MetaDirName {
			return filepath.SkipDir
		}
		if d.IsDir() && p != e.dst {
			rel, _ := filepath.Rel(e.dst, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	}))
	return out
}

// game is where the layout wants a multi-disc game's files and the text of
// its playlist: the card's files for it.
func (e *discEnv) game(title string, files []string, listed []string) map[string]string {
	out := map[string]string{}
	var dir, m3u, prefix string
	switch e.style {
	case DiscsHidden:
		dir, m3u, prefix = e.ps+"/."+title, e.ps+"/"+title+".m3u", "."+title+"/"
	case DiscsFolder:
		dir, m3u = e.ps+"/"+title, e.ps+"/"+title+"/"+title+".m3u"
	default:
		dir, m3u = e.ps, e.ps+"/"+title+".m3u"
	}
	var pl strings.Builder
	for _, d := range listed {
		pl.WriteString(prefix + d + "\n")
	}
	out[m3u] = pl.String()
	for _, f := range files {
		out[dir+"/"+f] = "data of " + f
	}
	return out
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func (e *discEnv) pass(t *testing.T, scope Scope, dry bool) *Report {
	t.Helper()
	o := e.opts
	o.DryRun = dry
	s, err := Open(context.Background(), o)
	require.NoError(t, err)
	defer s.Close()
	r, err := s.Pass(context.Background(), scope)
	require.NoError(t, err)
	return r
}

var psScope = Scope{Dirs: []string{datPS}}

// TestMultiDiscShapes: on Onion, MinUI and muOS cards (ext4, exFAT and
// FAT32), a game of several discs appears as the firmware wants it (folder
// shape and playlist bytes); a second pass does nothing; a game that gains
// a disc gets a new playlist, one that drops to one disc goes back to a
// plain file (moved, not copied again), a game that goes is removed with
// its folder — each by a folder-scoped pass, as the watcher runs them, and
// a dry run lists the playlist.
func TestMultiDiscShapes(t *testing.T) {
	for _, fsys := range []string{"ext4", "exFAT", "FAT32"} {
		for _, layout := range []string{"onion", "minui", "muos"} {
			t.Run(fsys+"/"+layout, func(t *testing.T) {
				var dst string
				switch fsys {
				case "exFAT":
					dst = filepath.Join(testfs.ExFAT(t, "32M"), "Roms")
				case "FAT32":
					dst = filepath.Join(testfs.FAT32(t, "64M"), "Roms")
				default:
					dst = filepath.Join(t.TempDir(), "card")
				}
				testMultiDiscShapes(t, newDiscEnv(t, layout, dst, fsys != "ext4"))
			})
		}
	}
}

func testMultiDiscShapes(t *testing.T, e *discEnv) {
	ff := []string{"FF (USA) (Disc 1).chd", "FF (USA) (Disc 2).chd"}
	nova := []string{"Nova (Disc 1).cue", "Nova (Disc 1) (Track 1).bin", "Nova (Disc 1) (Track 2).bin", "Nova (Disc 2).cue", "Nova (Disc 2) (Track 1).bin"}
	for _, f := range append(append(ff, nova...), "Single (USA).chd") {
		e.lib(t, f, "data of "+f)
	}
	want := merge(
		e.game("FF (USA)", ff, ff),
		e.game("Nova", nova, []string{"Nova (Disc 1).cue", "Nova (Disc 2).cue"}),
		map[string]string{e.ps + "/Single (USA).chd": "data of Single (USA).chd"},
	)

	// A dry run lists the playlists.
	d := e.pass(t, Scope{All: true}, true)
	planned := map[string]string{}
	for _, it := range d.Plan {
		planned[it.Path] = it.Source
	}
	for p := range want {
		assert.Contains(t, planned, p, "dry run")
	}
	assert.Equal(t, datPS+"/FF (USA).m3u", planned[m3uPath(e, "FF (USA)")], "a playlist's library path is the .m3u the library lacks")

	r := e.pass(t, Scope{All: true}, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, len(want), r.Copied)
	assert.Equal(t, want, e.card(t))
	again := e.pass(t, Scope{All: true}, false)
	assert.True(t, again.InSync, "%+v", again)
	assert.Zero(t, again.Copied+again.Deleted+again.Renamed, "a second pass does nothing: %+v", again)

	// The game gains a disc: its playlist is replaced, the disc copied.
	e.lib(t, "FF (USA) (Disc 3).chd", "data of FF (USA) (Disc 3).chd")
	ff3 := append(ff, "FF (USA) (Disc 3).chd")
	want = merge(want, e.game("FF (USA)", ff3, ff3))
	r = e.pass(t, psScope, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 2, r.Copied)
	assert.Equal(t, 1, r.Replaced)
	assert.Equal(t, want, e.card(t))

	// It drops to one disc: a plain file again, moved, not copied; the
	// playlist and the other discs go, and the folder with them.
	e.rm(t, "FF (USA) (Disc 2).chd")
	e.rm(t, "FF (USA) (Disc 3).chd")
	for p := range e.game("FF (USA)", ff3, nil) {
		delete(want, p)
	}
	want[e.ps+"/FF (USA) (Disc 1).chd"] = "data of FF (USA) (Disc 1).chd"
	r = e.pass(t, psScope, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 0, r.Copied, "%+v", r)
	if e.style != DiscsFlat {
		assert.Equal(t, 1, r.Renamed)
	}
	assert.Equal(t, want, e.card(t))

	// A game that goes is removed, with its folder.
	for _, f := range nova {
		e.rm(t, f)
	}
	for p := range e.game("Nova", nova, nil) {
		delete(want, p)
	}
	r = e.pass(t, psScope, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, want, e.card(t))
	assert.Equal(t, []string{e.ps}, e.dirs(t), "no folder left behind")

	full := e.pass(t, Scope{All: true}, false)
	assert.True(t, full.InSync, "%+v", full)
	assert.Zero(t, full.Copied+full.Deleted+full.Renamed, "the folder-scoped passes did it all: %+v", full)
}

func m3uPath(e *discEnv, title string) string {
	if e.style == DiscsFolder {
		return e.ps + "/" + title + "/" + title + ".m3u"
	}
	return e.ps + "/" + title + ".m3u"
}

// TestMultiDiscFlatToShape: discs installed as plain files before the game
// was whole move into the game's folder (no copy), and a scoped pass of the
// folder cleans it all.
func TestMultiDiscFlatToShape(t *testing.T) {
	e := newDiscEnv(t, "onion", filepath.Join(t.TempDir(), "card"), false)
	e.lib(t, "G (Disc 1).chd", "data of G (Disc 1).chd")
	r := e.pass(t, Scope{All: true}, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, map[string]string{"PS/G (Disc 1).chd": "data of G (Disc 1).chd"}, e.card(t))

	e.lib(t, "G (Disc 2).chd", "data of G (Disc 2).chd")
	r = e.pass(t, psScope, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 1, r.Renamed, "disc 1 moved, not copied again")
	assert.Equal(t, 2, r.Copied, "disc 2 and the playlist")
	assert.Equal(t, e.game("G", []string{"G (Disc 1).chd", "G (Disc 2).chd"}, []string{"G (Disc 1).chd", "G (Disc 2).chd"}), e.card(t))
}

// TestMultiDiscLibraryPlaylist: a library that has its own playlist for a
// game is mirrored as it is; once it gets one, the generated shape goes.
func TestMultiDiscLibraryPlaylist(t *testing.T) {
	e := newDiscEnv(t, "minui", filepath.Join(t.TempDir(), "card"), false)
	discs := []string{"G (Disc 1).chd", "G (Disc 2).chd"}
	for _, f := range discs {
		e.lib(t, f, "data of "+f)
	}
	r := e.pass(t, Scope{All: true}, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, e.game("G", discs, discs), e.card(t))

	e.lib(t, "G.m3u", "mine\n")
	r = e.pass(t, psScope, false)
	require.True(t, r.InSync, "%+v", r)
	ps := e.ps + "/"
	assert.Equal(t, map[string]string{ps + "G.m3u": "mine\n", ps + discs[0]: "data of " + discs[0], ps + discs[1]: "data of " + discs[1]}, e.card(t))
	assert.Equal(t, 2, r.Renamed, "the discs moved back")
	assert.Equal(t, []string{e.ps}, e.dirs(t))
}

// TestMultiDiscUserPlaylistKept: a playlist the user put on the card under
// the name romsyncd would write is never overwritten: a conflict.
func TestMultiDiscUserPlaylistKept(t *testing.T) {
	e := newDiscEnv(t, "onion", filepath.Join(t.TempDir(), "card"), false)
	e.lib(t, "Single.chd", "data of Single.chd")
	require.True(t, e.pass(t, Scope{All: true}, false).InSync)
	require.NoError(t, os.WriteFile(filepath.Join(e.dst, "PS", "G.m3u"), []byte("user's\n"), 0o644))
	for _, f := range []string{"G (Disc 1).chd", "G (Disc 2).chd"} {
		e.lib(t, f, "data of "+f)
	}
	r := e.pass(t, psScope, false)
	require.Len(t, r.Conflicts, 1, "%+v", r)
	assert.Equal(t, "PS/G.m3u", r.Conflicts[0].Target)
	assert.Equal(t, "user's\n", e.card(t)["PS/G.m3u"])
	assert.Equal(t, "data of G (Disc 2).chd", e.card(t)["PS/.G/G (Disc 2).chd"])
}

// TestMultiDiscFolderTaken: when a real library folder maps to the folder
// a game would get, the game's discs are copied as they are, with a
// conflict that says why; nothing of the real folder is touched.
func TestMultiDiscFolderTaken(t *testing.T) {
	e := newDiscEnv(t, "minui", filepath.Join(t.TempDir(), "card"), false)
	for _, f := range []string{"G (Disc 1).chd", "G (Disc 2).chd", "G/readme.txt"} {
		e.lib(t, f, "data of "+f)
	}
	r := e.pass(t, Scope{All: true}, false)
	require.Len(t, r.Conflicts, 1, "%+v", r)
	assert.Contains(t, r.Conflicts[0].Reason, "multi-disc game G: its folder "+e.ps+"/G is also "+datPS+"/G's")
	ps := e.ps + "/"
	want := map[string]string{ps + "G (Disc 1).chd": "data of G (Disc 1).chd", ps + "G (Disc 2).chd": "data of G (Disc 2).chd", ps + "G/readme.txt": "data of G/readme.txt"}
	assert.Equal(t, want, e.card(t))
	r = e.pass(t, psScope, false)
	assert.Equal(t, want, e.card(t), "a scoped pass of the folder changes nothing")
	assert.Zero(t, r.Copied+r.Deleted+r.Renamed)
}

// TestMultiDiscSheetTracks: the track files a .cue names go with their
// disc whatever their names, and come back beside the cue (moved, not
// copied) when the game is down to one disc.
func TestMultiDiscSheetTracks(t *testing.T) {
	e := newDiscEnv(t, "onion", filepath.Join(t.TempDir(), "card"), false)
	e.lib(t, "G (Disc 1).cue", "FILE \"t1.bin\" BINARY\n  TRACK 01 MODE2/2352\n")
	e.lib(t, "t1.bin", "data of t1.bin")
	e.lib(t, "G (Disc 2).cue", "FILE \"t2.bin\" BINARY\n  TRACK 01 MODE2/2352\n")
	e.lib(t, "t2.bin", "data of t2.bin")
	r := e.pass(t, Scope{All: true}, false)
	require.True(t, r.InSync, "%+v", r)
	card := e.card(t)
	assert.Equal(t, ".G/G (Disc 1).cue\n.G/G (Disc 2).cue\n", card["PS/G.m3u"])
	assert.Equal(t, "data of t1.bin", card["PS/.G/t1.bin"])
	assert.Equal(t, "data of t2.bin", card["PS/.G/t2.bin"])
	assert.Len(t, card, 5)

	e.rm(t, "G (Disc 2).cue")
	e.rm(t, "t2.bin")
	r = e.pass(t, psScope, false)
	require.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 2, r.Renamed, "the cue and its track moved back")
	assert.Zero(t, r.Copied)
	assert.Equal(t, map[string]string{"PS/G (Disc 1).cue": "FILE \"t1.bin\" BINARY\n  TRACK 01 MODE2/2352\n", "PS/t1.bin": "data of t1.bin"}, e.card(t))
	assert.Equal(t, []string{"PS"}, e.dirs(t))
}

// TestMultiDiscAdopt: `romsyncd init` on a card that already holds a game
// in the layout's shape, playlist included, adopts every file: the first
// pass copies nothing.
func TestMultiDiscAdopt(t *testing.T) {
	e := newDiscEnv(t, "onion", filepath.Join(t.TempDir(), "card"), false)
	discs := []string{"G (Disc 1).chd", "G (Disc 2).chd"}
	for _, f := range discs {
		e.lib(t, f, "data of "+f)
	}
	for p, data := range e.game("G", discs, discs) {
		full := filepath.Join(e.dst, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(data), 0o644))
	}
	r, err := Init(context.Background(), e.opts)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Adopted, "%+v", r)
	p := e.pass(t, Scope{All: true}, false)
	assert.True(t, p.InSync, "%+v", p)
	assert.Zero(t, p.Copied+p.Deleted+p.Renamed, "%+v", p)
}

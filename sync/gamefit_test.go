package sync

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/platform"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

func TestGameFolderOf(t *testing.T) {
	s := &Session{opts: Options{GameFolders: platform.GameFolders}}
	for rel, want := range map[string]string{
		"DOS/Doom/DOOM.EXE":              "DOS/Doom",
		"DOS/Doom/DATA/MAPS.DAT":         "DOS/Doom",
		"ScummVM/Monkey Island/x.00":     "ScummVM/Monkey Island",
		"DOS/readme.txt":                 "",
		"Nintendo - Game Boy/Hacks/x.gb": "",
		"x.gb":                           "",
	} {
		assert.Equal(t, want, s.gameFolderOf(rel), rel)
	}
	assert.Empty(t, (&Session{}).gameFolderOf("DOS/Doom/DOOM.EXE"), "no GameFolders: no games")
}

// TestGameFolderFitsWhole: on a card with room for part of a DOS game, the
// game is skipped whole (one line, no_room) instead of copied in part,
// while the smaller game, the loose file and another platform's ROM that
// fit are copied; once the card has room, the game is copied whole.
func TestGameFolderFitsWhole(t *testing.T) {
	mnt := testfs.Tmpfs(t, "8m") // 7 MiB for files, with romsyncd's reserve
	e := newRealEnv(t, filepath.Join(mnt, "Roms"))
	e.opts.GameFolders = platform.GameFolders
	const mib = 1 << 20
	e.lib(t, "DOS/Keen/KEEN.EXE", content("keen", mib/2))
	e.lib(t, "DOS/Keen/DATA/LEVELS.CK", content("keen levels", mib/2))
	e.lib(t, "DOS/Quake/QUAKE.EXE", content("quake exe", 5*mib/2))
	e.lib(t, "DOS/Quake/PAK0.PAK", content("quake pak", 2*mib))
	e.lib(t, "DOS/Quake/ID1/PAK1.PAK", content("quake pak1", 2*mib))
	e.lib(t, "DOS/readme.txt", []byte("read me"))
	e.lib(t, "GB/Tetris.gb", content("tetris", mib))

	r := mustRun(t, e.opts)
	require.Len(t, r.Skipped, 1, "%+v", r.Skipped)
	it := r.Skipped[0]
	assert.Equal(t, "DOS/Quake", it.Path)
	assert.Equal(t, "DOS/Quake", it.Target)
	assert.Equal(t, outcome.NoRoom, it.Skip)
	assert.Contains(t, it.Reason, "game folder does not fit: needs 6.5 MiB for its 3 files")
	assert.Equal(t, 4, r.Copied, "%+v", r)
	tree := readTree(t, e.dst)
	for p := range tree {
		assert.NotContains(t, p, "Quake", "no part of the game that does not fit is copied")
	}
	for _, p := range []string{"DOS/Keen/KEEN.EXE", "DOS/Keen/DATA/LEVELS.CK", "DOS/readme.txt", "GB/Tetris.gb"} {
		assert.Contains(t, tree, p)
	}
	e.check(t)

	// Room: the user drops Keen and the Game Boy ROM from the library; the
	// pass deletes them (after its copies), the next one copies Quake whole.
	require.NoError(t, os.RemoveAll(filepath.Join(e.src, "DOS", "Keen")))
	require.NoError(t, os.RemoveAll(filepath.Join(e.src, "GB")))
	mustRun(t, e.opts)
	r = mustRun(t, e.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 3, r.Copied, "%+v", r)
	e.converged(t)
}

package sync

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// TestSameNameInSharedFolder: MiSTer's Gameboy folder holds Game Boy and
// Game Boy Color. A name in both library folders with the same content is
// installed once (nothing is lost, nothing to report); with other content it
// is a conflict and neither is copied; the usual .gb/.gbc pairs never meet.
func TestSameNameInSharedFolder(t *testing.T) {
	for _, kind := range []string{"ext4", "exFAT"} {
		t.Run(kind, func(t *testing.T) {
			var target string
			if kind == "ext4" {
				target = filepath.Join(t.TempDir(), "games")
			} else {
				target = filepath.Join(testfs.ExFAT(t, "64M"), "games")
			}
			e := newRealEnv(t, target)
			e.opts.MapPlatform = layoutMapper(t, "mister")
			if kind != "ext4" {
				e.opts.Probe = daemonProbe
			}
			same := content("same", 32<<10)
			e.lib(t, datGB+"/Same (World).gb", same)
			e.lib(t, datGBC+"/Same (World).gb", same)
			e.lib(t, datGB+"/Diff (World).gb", content("diff gb", 32<<10))
			e.lib(t, datGBC+"/Diff (World).gb", content("diff gbc", 32<<10))
			e.lib(t, datGB+"/Tetris (World).gb", content("tetris", 32<<10))
			e.lib(t, datGBC+"/Tetris DX (World).gbc", content("tetris dx", 32<<10))

			r := mustRun(t, e.opts)
			assert.Equal(t, 2+1, r.Copied, "%+v", r)
			assert.ElementsMatch(t, []string{datGB + "/Diff (World).gb", datGBC + "/Diff (World).gb"}, paths(r.Conflicts))
			gameboy := filepath.Join(e.dst, "Gameboy")
			assert.Equal(t, map[string]bool{"Same (World).gb": true, "Tetris (World).gb": true, "Tetris DX (World).gbc": true},
				dirNames(mustReadDir(t, gameboy)))
			got, err := os.ReadFile(filepath.Join(gameboy, "Same (World).gb"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(same, got), "Same (World).gb holds the library's bytes")
			checkManifests(t, e.dst, true)

			// The next pass copies nothing; the conflict is still reported.
			r = mustRun(t, e.opts)
			assert.Zero(t, r.Copied, "%+v", r)
			assert.Len(t, r.Conflicts, 2)

			// The copies drift apart: a conflict; what the card holds stays.
			patched := content("same, patched", 32<<10)
			e.h.write(t, e.src, datGBC+"/Same (World).gb", patched, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
			r = mustRun(t, e.opts)
			assert.Zero(t, r.Copied, "%+v", r)
			assert.Zero(t, r.Deleted)
			assert.Contains(t, paths(r.Conflicts), datGBC+"/Same (World).gb")
			assert.FileExists(t, filepath.Join(gameboy, "Same (World).gb"))

			// The Game Boy one goes: the Game Boy Color one is installed.
			require.NoError(t, os.Remove(filepath.Join(e.src, datGB, "Same (World).gb")))
			r = mustRun(t, e.opts)
			assert.Equal(t, 1, r.Replaced, "%+v", r)
			got, err = os.ReadFile(filepath.Join(gameboy, "Same (World).gb"))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(patched, got), "Same (World).gb holds the Game Boy Color version")
			checkManifests(t, e.dst, true)
		})
	}
}

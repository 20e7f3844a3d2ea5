package sync

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

// fakeMedia builds, under a temp dir, a "/media" on a tmpfs of its own with
// a user folder holding one mounted card (OTHER), a "/mnt" and a
// "/run/media/user", and makes them targetfs's card mount roots for the test.
func fakeMedia(t *testing.T) (root string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	media := testfs.TmpfsAt(t, filepath.Join(root, "media"), "4m")
	other := testfs.TmpfsAt(t, filepath.Join(media, "user", "OTHER"), "4m")
	writeTree(t, other, map[string]string{"keep.txt": "another card"})
	for _, d := range []string{"run/media/user", "mnt", "media/user/STALE"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	saved := targetfs.CardMountRoots
	targetfs.CardMountRoots = []string{media, filepath.Join(root, "run", "media"), filepath.Join(root, "mnt")}
	t.Cleanup(func() { targetfs.CardMountRoots = saved })
	return root
}

// absentCardTargets are the shapes of an absent card's target.
var absentCardTargets = []struct{ name, target, firstMissing string }{
	{"missing /media/USER/LABEL", "media/user/KNULLI/Roms", "media/user/KNULLI"},
	{"missing /media/USER", "media/bob/KNULLI/Roms", "media/bob"},
	{"/media/USER holding another card", "media/user/MUOS", "media/user/MUOS"},
	{"empty mount point folder", "media/user/STALE/Roms", "media/user/STALE/Roms"},
	{"missing /run/media/USER/LABEL", "run/media/user/KNULLI/Roms", "run/media/user/KNULLI"},
	{"missing /mnt/X", "mnt/sd/Roms", "mnt/sd"},
}

// TestAbsentCardTargetIsNeverCreated: neither a first pass, a dry run nor
// `init` creates a target whose path would make an absent card's mount
// point (issue 10, point 1); the old check only refused an empty nearest
// folder, so /media/USER holding another card was filled.
func TestAbsentCardTargetIsNeverCreated(t *testing.T) {
	root := fakeMedia(t)
	for _, tt := range absentCardTargets {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "library")
			writeTree(t, src, map[string]string{"gb/a.gb": "a"})
			opts := Options{Profile: "test", Source: src, Target: filepath.Join(root, tt.target),
				Delete: true, Workers: 1, StateDir: t.TempDir()}
			for _, run := range []struct {
				name string
				do   func(Options) error
			}{
				{"first pass", func(o Options) error { _, err := runPass(context.Background(), t, o); return err }},
				{"dry run", func(o Options) error {
					o.DryRun = true
					_, err := runPass(context.Background(), t, o)
					return err
				}},
				{"init", func(o Options) error { _, err := Init(context.Background(), o); return err }},
			} {
				err := run.do(opts)
				require.ErrorIs(t, err, outcome.ErrTargetOffline, run.name)
				require.ErrorIs(t, err, targetfs.ErrCardAbsent, run.name)
				_, serr := os.Stat(filepath.Join(root, tt.firstMissing))
				assert.True(t, errors.Is(serr, fs.ErrNotExist), "%s created %s", run.name, tt.firstMissing)
			}
			ents, err := os.ReadDir(filepath.Join(root, "media", "user", "STALE"))
			require.NoError(t, err)
			assert.Empty(t, ents, "nothing written into the stale mount point")
			data, err := os.ReadFile(filepath.Join(root, "media", "user", "OTHER", "keep.txt"))
			require.NoError(t, err)
			assert.Equal(t, "another card", string(data))
		})
	}
}

// TestMountedCardTargetIsCreated: on a card that is mounted (exFAT at a
// /media/USER/LABEL-like path), a missing target folder is created on the
// first pass.
func TestMountedCardTargetIsCreated(t *testing.T) {
	root := fakeMedia(t)
	card := testfs.ExFATAt(t, filepath.Join(root, "media", "user", "KNULLI"), "32M")
	m, err := targetfs.MountOf(card)
	require.NoError(t, err)
	require.Equal(t, "fuseblk", m.FSType, "the card is exFAT (exfat-fuse)")
	src := filepath.Join(t.TempDir(), "library")
	writeTree(t, src, map[string]string{"gb/a.gb": "a"})
	opts := Options{Profile: "test", Source: src, Target: filepath.Join(card, "roms"),
		Delete: true, Workers: 1, StateDir: t.TempDir(), Probe: daemonProbe}
	rep := mustRun(t, opts)
	assert.True(t, rep.Created)
	data, err := os.ReadFile(filepath.Join(card, "roms", "gb", "a.gb"))
	require.NoError(t, err)
	assert.Equal(t, "a", string(data))
}

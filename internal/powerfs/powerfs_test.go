package powerfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/internal/powerfs"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/targetfs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// content returns n bytes that differ from seed to seed.
func content(n int, seed uint64) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// mount mounts a power-loss layer over a fresh backing folder holding files.
func mount(t *testing.T, files map[string][]byte) *powerfs.FS {
	t.Helper()
	backing := t.TempDir()
	for name, data := range files {
		p := filepath.Join(backing, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	return powerfs.Mount(t, backing, powerfs.Options{})
}

func cut(t *testing.T, p *powerfs.FS) []powerfs.Reverted {
	t.Helper()
	r, err := p.Cut()
	require.NoError(t, err)
	return r
}

// writeFile writes data to name under the mount, fsyncing it when sync.
func writeFile(t *testing.T, name string, data []byte, sync bool) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}

func TestCutLosesWhatWasNotSynced(t *testing.T) {
	old := content(5000, 1)
	p := mount(t, map[string][]byte{"old.bin": old})
	tests := []struct {
		name string
		do   func(t *testing.T, dir string)
		// want is what each file holds after the cut; nil: absent.
		want map[string][]byte
	}{
		{
			name: "written, closed, not synced: empty",
			do:   func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "a"), content(70000, 2), false) },
			want: map[string][]byte{"a": {}},
		},
		{
			name: "fsynced: survives",
			do:   func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "a"), content(70000, 3), true) },
			want: map[string][]byte{"a": content(70000, 3)},
		},
		{
			name: "renamed into place without fsync: 0 bytes under the final name",
			do: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ".tmp"), content(4096, 4), false)
				require.NoError(t, os.Rename(filepath.Join(dir, ".tmp"), filepath.Join(dir, "final.json")))
			},
			want: map[string][]byte{".tmp": nil, "final.json": {}},
		},
		{
			name: "fsynced, then renamed: survives under the final name",
			do: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ".tmp"), content(4096, 5), true)
				require.NoError(t, os.Rename(filepath.Join(dir, ".tmp"), filepath.Join(dir, "final.json")))
			},
			want: map[string][]byte{".tmp": nil, "final.json": content(4096, 5)},
		},
		{
			name: "synced, then appended to: the synced part survives",
			do: func(t *testing.T, dir string) {
				f, err := os.Create(filepath.Join(dir, "a"))
				require.NoError(t, err)
				defer f.Close()
				_, err = f.Write(content(3000, 6))
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				_, err = f.Write(content(1000, 7))
				require.NoError(t, err)
			},
			want: map[string][]byte{"a": content(3000, 6)},
		},
		{
			name: "fdatasync counts as fsync",
			do: func(t *testing.T, dir string) {
				f, err := os.Create(filepath.Join(dir, "a"))
				require.NoError(t, err)
				defer f.Close()
				_, err = f.Write(content(3000, 8))
				require.NoError(t, err)
				require.NoError(t, syscall.Fdatasync(int(f.Fd())))
			},
			want: map[string][]byte{"a": content(3000, 8)},
		},
		{
			name: "durable file overwritten in place (O_TRUNC) without fsync: old content",
			do:   func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "old.bin"), content(100, 9), false) },
			want: map[string][]byte{"old.bin": old},
		},
		{
			name: "durable file truncated by path without fsync: old content",
			do:   func(t *testing.T, dir string) { require.NoError(t, os.Truncate(filepath.Join(dir, "old.bin"), 10)) },
			want: map[string][]byte{"old.bin": old},
		},
		{
			name: "metadata is durable at once: mkdir, unlink",
			do: func(t *testing.T, dir string) {
				require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
				require.NoError(t, os.Remove(filepath.Join(dir, "old.bin")))
			},
			want: map[string][]byte{"old.bin": nil},
		},
		{
			name: "written and unlinked: nothing to restore",
			do: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "gone"), content(100, 10), false)
				require.NoError(t, os.Remove(filepath.Join(dir, "gone")))
			},
			want: map[string][]byte{"gone": nil},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(p.Dir(), fmt.Sprint(i))
			require.NoError(t, os.Mkdir(dir, 0o755))
			if _, ok := tt.want["old.bin"]; ok {
				writeFile(t, filepath.Join(dir, "old.bin"), old, true)
			}
			tt.do(t, dir)
			cut(t, p)
			for name, want := range tt.want {
				got, err := os.ReadFile(filepath.Join(dir, name))
				if want == nil {
					assert.ErrorIs(t, err, os.ErrNotExist, "%s after the cut", name)
					continue
				}
				require.NoError(t, err, "%s after the cut", name)
				assert.True(t, bytes.Equal(want, got), "%s after the cut: %d B, want %d B", name, len(got), len(want))
			}
		})
	}
	// The file that was on the medium before the mount was never touched.
	assert.Equal(t, old, readFile(t, filepath.Join(p.Dir(), "old.bin")))
}

func TestCutReportsWhatItReverted(t *testing.T) {
	p := mount(t, nil)
	writeFile(t, filepath.Join(p.Dir(), "tmp"), content(1234, 1), false)
	require.NoError(t, os.Rename(filepath.Join(p.Dir(), "tmp"), filepath.Join(p.Dir(), "final")))
	writeFile(t, filepath.Join(p.Dir(), "synced"), content(10, 2), true)
	st := p.Stats()
	assert.Equal(t, 1, st.Dirty)
	r := cut(t, p)
	require.Len(t, r, 1)
	assert.Equal(t, filepath.Join(p.Backing(), "final"), r[0].Path)
	assert.EqualValues(t, 1234, r[0].Size)
	assert.EqualValues(t, 0, r[0].Durable)
	st = p.Stats()
	assert.EqualValues(t, 1, st.Cuts)
	assert.EqualValues(t, 1, st.Reverted)
	assert.Equal(t, 0, st.Dirty)
	// Nothing is dirty now: a second cut changes nothing.
	assert.Empty(t, cut(t, p))
	assert.Equal(t, content(10, 2), readFile(t, filepath.Join(p.Dir(), "synced")))
}

func TestWritebackMakesEverythingDurable(t *testing.T) {
	p := mount(t, nil)
	writeFile(t, filepath.Join(p.Dir(), "a"), content(5000, 1), false)
	writeFile(t, filepath.Join(p.Dir(), "b"), content(10, 2), true)
	assert.Equal(t, 1, p.Writeback())
	writeFile(t, filepath.Join(p.Dir(), "b"), content(20, 3), false)
	cut(t, p)
	assert.Equal(t, content(5000, 1), readFile(t, filepath.Join(p.Dir(), "a")))
	assert.Equal(t, content(10, 2), readFile(t, filepath.Join(p.Dir(), "b")))
}

func TestHandleOpenedBeforeACutIsDead(t *testing.T) {
	p := mount(t, nil)
	f, err := os.Create(filepath.Join(p.Dir(), "a"))
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write([]byte("before"))
	require.NoError(t, err)
	cut(t, p)
	_, err = f.Write([]byte("after"))
	assert.ErrorIs(t, err, syscall.EIO, "write on a handle from before the cut")
	assert.ErrorIs(t, f.Sync(), syscall.EIO, "fsync on a handle from before the cut")
	assert.Empty(t, readFile(t, filepath.Join(p.Dir(), "a")))
	// A new handle works.
	writeFile(t, filepath.Join(p.Dir(), "a"), []byte("new"), true)
	cut(t, p)
	assert.Equal(t, "new", string(readFile(t, filepath.Join(p.Dir(), "a"))))
}

// TestConcurrentWriters runs writers that append chunks to their own files
// and fsync at random points, and pairs of writers sharing one file (disjoint
// ranges); after the cut every file holds exactly what its last fsync covered.
func TestConcurrentWriters(t *testing.T) {
	p := mount(t, nil)
	const writers = 8
	want := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			f, err := os.Create(filepath.Join(p.Dir(), fmt.Sprintf("w%d", w)))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			var all []byte
			for i := range 40 {
				chunk := content(1+rng.IntN(20000), uint64(w*1000+i))
				if _, err := f.Write(chunk); err != nil {
					errs <- err
					return
				}
				all = append(all, chunk...)
				if rng.IntN(4) == 0 {
					if err := f.Sync(); err != nil {
						errs <- err
						return
					}
					want[w] = bytes.Clone(all)
				}
			}
			if want[w] == nil {
				want[w] = []byte{}
			}
		})
	}
	// Two writers on one file, each its half, then one fsync covers both.
	shared := filepath.Join(p.Dir(), "shared")
	half := 300000
	sharedWant := append(content(half, 77), content(half, 78)...)
	f, err := os.Create(shared)
	require.NoError(t, err)
	defer f.Close()
	var pair sync.WaitGroup
	for i := range 2 {
		pair.Go(func() {
			g, err := os.OpenFile(shared, os.O_WRONLY, 0)
			if err != nil {
				errs <- err
				return
			}
			defer g.Close()
			if _, err := g.WriteAt(sharedWant[i*half:(i+1)*half], int64(i*half)); err != nil {
				errs <- err
			}
		})
	}
	pair.Wait()
	require.NoError(t, f.Sync())
	_, err = f.WriteAt([]byte("lost"), int64(len(sharedWant)))
	require.NoError(t, err)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	cut(t, p)
	for w := range writers {
		got := readFile(t, filepath.Join(p.Dir(), fmt.Sprintf("w%d", w)))
		assert.True(t, bytes.Equal(want[w], got), "w%d after the cut: %d B, want the %d B its last fsync covered", w, len(got), len(want[w]))
	}
	got := readFile(t, shared)
	assert.True(t, bytes.Equal(sharedWant, got), "shared after the cut: %d B, want %d B", len(got), len(sharedWant))
}

// TestRomsyncdTakesThePerFileFsyncPath: the mount is FUSE to targetfs, but
// neither exfat-fuse nor a network filesystem, so romsyncd fsyncs each file
// (syncfs would not reach the layer).
func TestRomsyncdTakesThePerFileFsyncPath(t *testing.T) {
	p := mount(t, nil)
	mi, err := targetfs.MountOf(p.Dir())
	require.NoError(t, err)
	assert.Equal(t, "fuse."+powerfs.Name, mi.FSType)
	info, err := targetfs.Probe(context.Background(), p.Dir(), p.Dir())
	require.NoError(t, err)
	assert.True(t, info.FUSE, "FUSE")
	assert.False(t, info.Network, "network")
	var o romsync.Options
	o.Adapt(info, -1)
	assert.True(t, o.PerFileSync, "PerFileSync")
	assert.False(t, o.VolumeSync, "VolumeSync")
}

// TestSyncfsDoesNotReachTheLayer documents the kernel's behaviour: syncfs on
// a FUSE mount makes nothing durable.
func TestSyncfsDoesNotReachTheLayer(t *testing.T) {
	p := mount(t, nil)
	f, err := os.Create(filepath.Join(p.Dir(), "a"))
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(content(100, 1))
	require.NoError(t, err)
	if err := unix.Syncfs(int(f.Fd())); err != nil && !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("syncfs: %v", err)
	}
	cut(t, p)
	assert.Empty(t, readFile(t, filepath.Join(p.Dir(), "a")))
}

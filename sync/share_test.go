package sync

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// cached reports how many of the file's pages are in the page cache.
func cached(t *testing.T, p string) int {
	t.Helper()
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(data)
	vec := make([]byte, (len(data)+os.Getpagesize()-1)/os.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&vec[0])))
	require.Zero(t, errno)
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestShareKeepsAFileCachedForTheOtherCard: two passes over one library
// at once (two cards) read each file from the disk once: the first reader
// leaves the pages cached while the other still has to read the file, the
// last reader drops them; a file only one pass copies, or a pass that
// leaves without reading, leaves nothing cached.
func TestShareKeepsAFileCachedForTheOtherCard(t *testing.T) {
	root := t.TempDir()
	files := map[string]*srcFile{}
	for _, name := range []string{"both.gb", "onlya.gb", "left.gb"} {
		p := filepath.Join(root, name)
		require.NoError(t, os.WriteFile(p, content(name, 256<<10), 0o644))
		// On the disk: dirty pages cannot be dropped.
		fh, err := os.Open(p)
		require.NoError(t, err)
		require.NoError(t, fh.Sync())
		require.NoError(t, fh.Close())
		st, err := os.Stat(p)
		require.NoError(t, err)
		files[name] = &srcFile{Rel: name, Size: st.Size(), Mtime: st.ModTime().UnixNano()}
	}
	readAs := func(m *shareMember, name string) {
		t.Helper()
		p := filepath.Join(root, name)
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Len(t, data, 256<<10)
		fd, err := openRead(p)
		require.NoError(t, err)
		m.read(files[name], fd)
		unix.Close(fd)
	}
	sh := NewShare()
	a, b := sh.join(root), sh.join(root)
	done := make(chan struct{})
	go func() {
		a.plan(context.Background(), []*srcFile{files["both.gb"], files["onlya.gb"], files["left.gb"]})
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a planned pass read before the other member planned")
	case <-time.After(50 * time.Millisecond):
	}
	b.plan(context.Background(), []*srcFile{files["both.gb"], files["left.gb"]})
	<-done

	readAs(a, "both.gb")
	assert.Positive(t, cached(t, filepath.Join(root, "both.gb")), "kept for b")
	assert.Equal(t, int64(256<<10), sh.held)
	readAs(a, "onlya.gb")
	assert.Zero(t, cached(t, filepath.Join(root, "onlya.gb")), "nobody else needs it")
	readAs(b, "both.gb")
	assert.Zero(t, cached(t, filepath.Join(root, "both.gb")), "the last reader drops it")
	readAs(a, "left.gb")
	assert.Positive(t, cached(t, filepath.Join(root, "left.gb")), "kept for b")
	b.leave()
	assert.Zero(t, cached(t, filepath.Join(root, "left.gb")), "b left without reading it")
	a.leave()
	assert.Zero(t, sh.held)
	assert.Empty(t, sh.need)
	assert.Zero(t, sh.members)
}

// TestShareDoesNotWaitForever: a member whose pass never plans (stuck
// opening its card) holds the others back at most shareWait, and a
// canceled pass not at all.
func TestShareDoesNotWaitForever(t *testing.T) {
	sh := NewShare()
	a := sh.join(t.TempDir())
	sh.join(t.TempDir()) // never plans
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	time.AfterFunc(50*time.Millisecond, cancel)
	a.plan(ctx, nil)
	assert.Less(t, time.Since(start), shareWait)
}

// A nil Share shares nothing and never blocks.
func TestNilShare(t *testing.T) {
	var sh *Share
	m := sh.join("/lib")
	m.plan(context.Background(), []*srcFile{{Rel: "a"}})
	m.leave()
}

// TestNoVerifyLeavesNoCopyCached: with verify off nothing reads the copies
// back, so nothing dropped their pages: 3.5 GB stayed cached after a
// 3.8 GB mirror, and the pass ran 1.7× slower than with verify on.
func TestNoVerifyLeavesNoCopyCached(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "card")
	p := filepath.Join(src, "GB", "big.gb")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, content("big", 4<<20), 0o644))
	r := mustRun(t, Options{Profile: "noverify", Source: src, Target: dst, Workers: 1, Verify: false, StateDir: t.TempDir()})
	require.Equal(t, 1, r.Copied)
	assert.Zero(t, cached(t, filepath.Join(dst, "GB", "big.gb")), "the copy's pages were dropped")
}

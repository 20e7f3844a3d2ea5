package faultfs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/internal/faultfs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// content returns n bytes that differ from file to file.
func content(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// library creates a backing folder holding files (slash-separated names).
func library(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	return dir
}

// fault returns NoFault changed by set.
func fault(set func(*faultfs.Fault)) faultfs.Fault {
	f := faultfs.NoFault()
	set(&f)
	return f
}

func TestUnfaultedCopyIsByteIdentical(t *testing.T) {
	files := map[string][]byte{
		"GBA/Pokemon - Emerald Version (USA, Europe).gba": content(3<<20+123, 1),
		"NES/Tetris (World) (Rev 1) [!].nes":              content(40977, 2),
		"NES/one byte.nes":                                content(1, 3),
		"empty.txt":                                       nil,
	}
	src := faultfs.Mount(t, library(t, files), faultfs.Options{})
	dstDir := t.TempDir()
	dst := faultfs.Mount(t, dstDir, faultfs.Options{})

	copyFile := func(from, to string) {
		t.Helper()
		in, err := os.Open(from)
		require.NoError(t, err)
		defer in.Close()
		require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
		out, err := os.Create(to)
		require.NoError(t, err)
		_, err = io.Copy(out, in)
		require.NoError(t, err)
		require.NoError(t, out.Sync())
		require.NoError(t, out.Close())
	}
	for name, want := range files {
		// Library mount to card mount, then within the card mount (where the
		// kernel tries copy_file_range first).
		copyFile(filepath.Join(src.Dir(), name), filepath.Join(dst.Dir(), name))
		copyFile(filepath.Join(dst.Dir(), name), filepath.Join(dst.Dir(), name+".copy"))
		for _, p := range []string{
			filepath.Join(dstDir, name),
			filepath.Join(dstDir, name+".copy"),
			filepath.Join(dst.Dir(), name+".copy"),
		} {
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "%s: %d bytes differ from the %d of the library", p, len(got), len(want))
		}
	}
	assert.Empty(t, src.Injected())
	assert.Empty(t, dst.Injected())
}

func TestRenameReaddirMkdirUnlinkUtimensPassThrough(t *testing.T) {
	backing := t.TempDir()
	f := faultfs.Mount(t, backing, faultfs.Options{})
	dir := filepath.Join(f.Dir(), "PS1")
	require.NoError(t, os.Mkdir(dir, 0o755))

	tmp := filepath.Join(dir, ".romsyncd-4f2a.tmp")
	final := filepath.Join(dir, "Crash Bandicoot (USA).bin")
	data := content(70000, 4)
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 789000000, time.UTC)
	require.NoError(t, os.Chtimes(tmp, mtime, mtime))
	require.NoError(t, os.Rename(tmp, final))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "Crash Bandicoot (USA).bin", entries[0].Name())

	for _, p := range []string{final, filepath.Join(backing, "PS1", "Crash Bandicoot (USA).bin")} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.True(t, mtime.Equal(st.ModTime()), "%s: mtime %v, want %v", p, st.ModTime(), mtime)
		assert.Equal(t, int64(len(data)), st.Size(), p)
	}
	got, err := os.ReadFile(final)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))

	require.NoError(t, os.Remove(final))
	require.NoError(t, os.Remove(dir))
	_, err = os.Stat(filepath.Join(backing, "PS1"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestEIOAtOffset(t *testing.T) {
	data := content(64<<10, 5)
	f := faultfs.Mount(t, library(t, map[string][]byte{"bad.sfc": data}), faultfs.Options{})
	f.Set("bad.sfc", fault(func(f *faultfs.Fault) { f.EIOAtOffset = 40000 }))

	r, err := os.Open(filepath.Join(f.Dir(), "bad.sfc"))
	require.NoError(t, err)
	defer r.Close()
	before := make([]byte, 40000)
	_, err = r.ReadAt(before, 0)
	require.NoError(t, err, "a read that stops short of the bad offset must succeed")
	assert.True(t, bytes.Equal(data[:40000], before))

	_, err = io.ReadFull(r, make([]byte, len(data)))
	assert.ErrorIs(t, err, syscall.EIO)

	// On a target, a write covering the offset fails.
	f.Set("out.sfc", fault(func(f *faultfs.Fault) { f.EIOAtOffset = 10000 }))
	w, err := os.Create(filepath.Join(f.Dir(), "out.sfc"))
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Write(data[:8192])
	require.NoError(t, err)
	_, err = w.Write(data[8192:16384])
	assert.ErrorIs(t, err, syscall.EIO)

	assert.Equal(t, map[string]int{faultfs.KindEIO: 2}, f.Injected())
}

func TestShortReadsStillReadWhole(t *testing.T) {
	data := content(10000, 6)
	f := faultfs.Mount(t, library(t, map[string][]byte{"a.gb": data}), faultfs.Options{})
	f.Set("a.gb", fault(func(f *faultfs.Fault) { f.ShortReads = true }))

	r, err := os.Open(filepath.Join(f.Dir(), "a.gb"))
	require.NoError(t, err)
	defer r.Close()
	n, err := r.Read(make([]byte, 4096))
	require.NoError(t, err)
	assert.Positive(t, n)
	assert.Less(t, n, 4096, "a single read must come back short")

	_, err = r.Seek(0, io.SeekStart)
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "io.ReadAll got %d bytes, want %d", len(got), len(data))
	assert.Greater(t, f.Injected()[faultfs.KindShort], 1)
}

func TestEarlyEOFTruncatesSilently(t *testing.T) {
	data := content(100000, 7)
	f := faultfs.Mount(t, library(t, map[string][]byte{"disc.iso": data}), faultfs.Options{})
	f.Set("disc.iso", fault(func(f *faultfs.Fault) { f.EarlyEOF = 30000 }))
	p := filepath.Join(f.Dir(), "disc.iso")

	got, err := os.ReadFile(p)
	require.NoError(t, err, "an early EOF is not an error: the copier must compare sizes")
	assert.Len(t, got, 30000)
	assert.True(t, bytes.Equal(data[:30000], got))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), st.Size(), "stat still reports the whole file")

	r, err := os.Open(p)
	require.NoError(t, err)
	defer r.Close()
	n, err := r.ReadAt(make([]byte, 10), 50000)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, io.EOF)
	// ReadFile's cut read, its read at 30000, and the ReadAt.
	assert.Equal(t, 3, f.Injected()[faultfs.KindEOF])
}

func TestChangeWhileRead(t *testing.T) {
	data := content(5000, 8)
	backing := library(t, map[string][]byte{"lib/a.md": data})
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(filepath.Join(backing, "lib/a.md"), old, old))
	f := faultfs.Mount(t, backing, faultfs.Options{})
	f.Set("lib/a.md", fault(func(f *faultfs.Fault) { f.ChangeWhileRead = true }))
	p := filepath.Join(f.Dir(), "lib", "a.md")

	before, err := os.Stat(p)
	require.NoError(t, err)
	r, err := os.Open(p)
	require.NoError(t, err)
	defer r.Close()
	first := make([]byte, 100)
	_, err = io.ReadFull(r, first)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data[:100], first))

	after, err := os.Stat(p)
	require.NoError(t, err)
	assert.Greater(t, after.Size(), before.Size(), "size after the first read")
	assert.True(t, after.ModTime().After(before.ModTime()), "mtime %v after the first read, was %v", after.ModTime(), before.ModTime())
	fst, err := r.Stat()
	require.NoError(t, err)
	assert.Equal(t, after.Size(), fst.Size(), "fstat on the open file")

	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	whole := append(first, rest...)
	assert.True(t, bytes.HasPrefix(whole, data))
	assert.Equal(t, after.Size(), int64(len(whole)), "the reader sees the appended bytes")

	again, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, after.Size(), again.Size(), "the file changes once per Set")
	assert.Equal(t, 1, f.Injected()[faultfs.KindChange])
}

func TestStatSize(t *testing.T) {
	data := content(1000, 9)
	f := faultfs.Mount(t, library(t, map[string][]byte{"a.n64": data}), faultfs.Options{})
	f.Set("a.n64", fault(func(f *faultfs.Fault) { f.StatSize = 5000 }))
	p := filepath.Join(f.Dir(), "a.n64")

	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, int64(5000), st.Size())
	var stx unix.Statx_t
	require.NoError(t, unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &stx))
	assert.Equal(t, uint64(5000), stx.Size, "statx")

	r, err := os.Open(p)
	require.NoError(t, err)
	defer r.Close()
	fst, err := r.Stat()
	require.NoError(t, err)
	assert.Equal(t, int64(5000), fst.Size(), "fstat")
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "reads return the real %d bytes, got %d", len(data), len(got))
	assert.GreaterOrEqual(t, f.Injected()[faultfs.KindStatSize], 3)
}

func TestRulesForOneFileAllFilesAndClear(t *testing.T) {
	f := faultfs.Mount(t, library(t, map[string][]byte{
		"a.bin":     content(10, 10),
		"dir/b.bin": content(20, 11),
	}), faultfs.Options{})
	size := func(rel string) int64 {
		t.Helper()
		st, err := os.Stat(filepath.Join(f.Dir(), rel))
		require.NoError(t, err)
		return st.Size()
	}
	dirSize := size("dir")

	f.Set(faultfs.AllFiles, fault(func(f *faultfs.Fault) { f.StatSize = 7 }))
	f.Set("/a.bin", fault(func(f *faultfs.Fault) { f.StatSize = 9 }))
	assert.Equal(t, int64(9), size("a.bin"), "the file's own rule wins")
	assert.Equal(t, int64(7), size("dir/b.bin"), "\"*\" applies to every file")
	assert.Equal(t, dirSize, size("dir"), "StatSize leaves directories alone")

	f.Clear("a.bin")
	assert.Equal(t, int64(7), size("a.bin"))
	f.Clear(faultfs.AllFiles)
	assert.Equal(t, int64(10), size("a.bin"))
	assert.Equal(t, int64(20), size("dir/b.bin"))
}

func TestSetRejectsBadProbability(t *testing.T) {
	f := faultfs.Mount(t, t.TempDir(), faultfs.Options{})
	for _, p := range []float64{-0.1, 1.5} {
		assert.Panics(t, func() { f.Set("a", fault(func(f *faultfs.Fault) { f.Probability = p })) }, "probability %v", p)
	}
}

func TestReadDelay(t *testing.T) {
	data := content(3000, 12)
	f := faultfs.Mount(t, library(t, map[string][]byte{"slow.chd": data}), faultfs.Options{})
	const delay = 150 * time.Millisecond
	f.Set("slow.chd", fault(func(f *faultfs.Fault) { f.ReadDelay = delay }))

	r, err := os.Open(filepath.Join(f.Dir(), "slow.chd"))
	require.NoError(t, err)
	defer r.Close()
	// One read takes at least the delay. (It may take more: the Go runtime's
	// own signals can interrupt the request, and os.File.Read retries.)
	start := time.Now()
	n, err := r.Read(make([]byte, 100))
	require.NoError(t, err)
	assert.Equal(t, 100, n)
	assert.GreaterOrEqual(t, time.Since(start), delay)

	_, err = r.Seek(0, io.SeekStart)
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	assert.GreaterOrEqual(t, f.Injected()[faultfs.KindDelay], 3)
}

// interruptLatency bounds how long an interrupted read may take to return.
// It is typically a few milliseconds; the bound leaves room for a loaded
// machine and is still far below the one-minute delay the tests set.
const interruptLatency = 2 * time.Second

// TestReadDelayEndsOnSignal reads in a goroutine and signals its thread, as
// the kernel does for a reader that gets a signal: the FUSE request is
// interrupted and the read returns EINTR at once instead of after a minute.
func TestReadDelayEndsOnSignal(t *testing.T) {
	f := faultfs.Mount(t, library(t, map[string][]byte{"slow.chd": content(3000, 13)}), faultfs.Options{})
	f.Set("slow.chd", fault(func(f *faultfs.Fault) { f.ReadDelay = time.Minute }))
	r, err := os.Open(filepath.Join(f.Dir(), "slow.chd"))
	require.NoError(t, err)
	defer r.Close()
	fd := int(r.Fd())

	tids := make(chan int, 1)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		// A raw pread: os.File.Read would retry on EINTR.
		_, err := unix.Pread(fd, make([]byte, 4096), 0)
		errs <- err
	}()
	defer wg.Wait()
	tid := <-tids
	require.Eventually(t, func() bool { return f.Injected()[faultfs.KindDelay] > 0 }, 5*time.Second, time.Millisecond,
		"the read never reached the filesystem")

	// The Go runtime catches SIGUSR1 and, with no signal.Notify, ignores it;
	// it still interrupts the system call in flight on that thread.
	start := time.Now()
	require.NoError(t, unix.Tgkill(os.Getpid(), tid, unix.SIGUSR1))
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, unix.EINTR)
		assert.Less(t, time.Since(start), interruptLatency)
	case <-time.After(10 * time.Second):
		t.Fatal("the delayed read was not interrupted by the signal")
	}
}

// TestReadDelayEndsWhenReaderIsKilled cancels the context of a reading
// process: it is killed, and the FUSE request it was blocked in returns.
func TestReadDelayEndsWhenReaderIsKilled(t *testing.T) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skipf("no cat to read with: %v", err)
	}
	f := faultfs.Mount(t, library(t, map[string][]byte{"slow.chd": content(3000, 14)}), faultfs.Options{})
	f.Set("slow.chd", fault(func(f *faultfs.Fault) { f.ReadDelay = time.Minute }))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, cat, filepath.Join(f.Dir(), "slow.chd"))
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return f.Injected()[faultfs.KindDelay] > 0 }, 5*time.Second, time.Millisecond,
		"cat never read from the filesystem")

	start := time.Now()
	cancel()
	err = cmd.Wait()
	assert.Error(t, err, "cat was killed")
	took := time.Since(start)
	t.Logf("cat ended %v after it was killed", took)
	assert.Less(t, took, interruptLatency, "killing the reader must end its blocked read")
}

func TestWriteFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*faultfs.Fault)
		want  error
		kind  string
	}{
		{"eio", func(f *faultfs.Fault) { f.WriteEIO = true }, syscall.EIO, faultfs.KindWriteEIO},
		{"enospc", func(f *faultfs.Fault) { f.WriteENOSPC = true }, syscall.ENOSPC, faultfs.KindENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backing := t.TempDir()
			f := faultfs.Mount(t, backing, faultfs.Options{})
			f.Set(faultfs.AllFiles, fault(tt.fault))
			w, err := os.Create(filepath.Join(f.Dir(), ".romsyncd-1.tmp"))
			require.NoError(t, err, "creating is not writing")
			defer w.Close()
			_, err = w.Write(content(5000, 15))
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, map[string]int{tt.kind: 1}, f.Injected())
			st, err := os.Stat(filepath.Join(backing, ".romsyncd-1.tmp"))
			require.NoError(t, err)
			assert.Zero(t, st.Size(), "nothing reached the backing file")
		})
	}
}

func TestFsyncEIO(t *testing.T) {
	backing := library(t, map[string][]byte{"lib/src.gba": content(100, 16)})
	f := faultfs.Mount(t, backing, faultfs.Options{})
	f.Set(faultfs.AllFiles, fault(func(f *faultfs.Fault) { f.FsyncEIO = true }))

	w, err := os.Create(filepath.Join(f.Dir(), "out.gba"))
	require.NoError(t, err)
	_, err = w.Write(content(5000, 17))
	require.NoError(t, err, "writes succeed; the error comes at fsync")
	assert.ErrorIs(t, w.Sync(), syscall.EIO)
	assert.ErrorIs(t, w.Close(), syscall.EIO, "close of a written file reports the flush error")

	r, err := os.Open(filepath.Join(f.Dir(), "lib", "src.gba"))
	require.NoError(t, err)
	_, err = io.ReadAll(r)
	require.NoError(t, err)
	assert.NoError(t, r.Close(), "closing a file opened for reading does not fail")

	d, err := os.Open(filepath.Join(f.Dir(), "lib"))
	require.NoError(t, err)
	defer d.Close()
	assert.ErrorIs(t, d.Sync(), syscall.EIO, "fsync of the folder")

	f.Clear(faultfs.AllFiles)
	assert.NoError(t, d.Sync())
	assert.Equal(t, map[string]int{faultfs.KindFsyncEIO: 3}, f.Injected())
}

// failures writes one byte at a time to a fresh mount of a fresh folder with
// a WriteEIO fault of probability 0.5, and returns which writes failed.
func failures(t *testing.T, seed int64) string {
	t.Helper()
	f := faultfs.Mount(t, t.TempDir(), faultfs.Options{Seed: seed})
	f.Set("p.bin", fault(func(f *faultfs.Fault) {
		f.WriteEIO = true
		f.Probability = 0.5
	}))
	w, err := os.Create(filepath.Join(f.Dir(), "p.bin"))
	require.NoError(t, err)
	defer w.Close()
	var b strings.Builder
	for i := range 64 {
		_, err := w.WriteAt([]byte{byte(i)}, int64(i))
		switch {
		case err == nil:
			b.WriteByte('.')
		case errors.Is(err, syscall.EIO):
			b.WriteByte('x')
		default:
			t.Fatalf("write %d: %v", i, err)
		}
	}
	assert.Equal(t, strings.Count(b.String(), "x"), f.Injected()[faultfs.KindWriteEIO])
	return b.String()
}

func TestProbabilityIsDeterministic(t *testing.T) {
	first := failures(t, 42)
	assert.Equal(t, first, failures(t, 42), "the same seed")
	assert.Contains(t, first, "x")
	assert.Contains(t, first, ".")
	assert.NotEqual(t, first, failures(t, 43), "another seed")
}

// mounted reports whether dir is a mount point of this process.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	mi, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer mi.Close()
	s := bufio.NewScanner(mi)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	require.NoError(t, s.Err())
	return false
}

func TestUnmountLeavesNoMountAndNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var dir string
	t.Run("mounted", func(t *testing.T) {
		f := faultfs.Mount(t, library(t, map[string][]byte{"a.bin": content(100000, 18)}), faultfs.Options{})
		dir = f.Dir()
		require.True(t, mounted(t, dir))
		f.Set("a.bin", fault(func(f *faultfs.Fault) {
			f.ShortReads = true
			f.ReadDelay = time.Millisecond
		}))
		_, err := os.ReadFile(filepath.Join(dir, "a.bin"))
		require.NoError(t, err)
	})
	assert.False(t, mounted(t, dir), "%s is still mounted", dir)
	goleak.VerifyNone(t, ignore)
}

// recorder is a testing.TB that records errors instead of failing the test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestUnmountOfBusyMountDetachesAndAborts(t *testing.T) {
	defer faultfs.SetUnmountPatience(300*time.Millisecond, 5*time.Second)()
	ignore := goleak.IgnoreCurrent()
	rec := &recorder{}
	var dir string
	var held *os.File
	t.Run("busy", func(t *testing.T) {
		// Registered first, so it runs after the unmount: the file is
		// still open while the cleanup of the mount runs.
		t.Cleanup(func() {
			if held != nil {
				held.Close()
			}
		})
		rec.TB = t
		f := faultfs.Mount(rec, library(t, map[string][]byte{"a.bin": content(10, 19)}), faultfs.Options{})
		dir = f.Dir()
		var err error
		held, err = os.Open(filepath.Join(dir, "a.bin"))
		require.NoError(t, err)
	})
	if dir == "" {
		// The subtest skipped: FUSE needs root and /dev/fuse.
		t.Skip("faultfs could not mount: needs root and /dev/fuse (see the busy subtest)")
	}
	require.Len(t, rec.errs, 1, "errors: %q", rec.errs)
	assert.Contains(t, rec.errs[0], "a file on it is still open")
	assert.False(t, mounted(t, dir), "%s is still mounted", dir)
	goleak.VerifyNone(t, ignore)
}

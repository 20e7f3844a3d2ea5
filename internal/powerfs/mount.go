package powerfs

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// How long the cleanup of a mount retries the unmount while a file on it is
// still open before it detaches it lazily, and waits for the serve loop.
const (
	unmountPatience = 5 * time.Second
	servePatience   = 10 * time.Second
)

// Mount serves backing through a power-loss FUSE filesystem mounted at a new
// directory under tb.TempDir(), and unmounts it when the test ends. It skips
// the test when the process is not root or /dev/fuse is unavailable, or
// fails it when ROMSYNCD_REQUIRE_MOUNTS is set (as CI does). The backing
// folder should be on a filesystem that does not lose data itself (tmpfs).
func Mount(tb testing.TB, backing string, opts Options) *FS {
	tb.Helper()
	skipUnlessFUSE(tb)

	abs, err := filepath.Abs(backing)
	if err != nil {
		tb.Fatalf("powerfs: mount %s: %v", backing, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		tb.Fatalf("powerfs: mount %s: %v", abs, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		tb.Fatalf("powerfs: mount %s: not a directory", abs)
	}
	dir := filepath.Join(tb.TempDir(), "power")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("powerfs: mount %s: %v", abs, err)
	}

	logs := &testLog{tb: tb}
	logger := log.New(logs, "", 0)
	f := &FS{
		dir:     dir,
		backing: abs,
		logf:    logger.Printf,
		served:  make(chan struct{}),
		files:   make(map[fileID]*file),
	}
	rootData := &fs.LoopbackRoot{Path: abs, Dev: uint64(st.Dev)}
	root := &node{LoopbackNode: &fs.LoopbackNode{RootData: rootData}, fsys: f}
	rootData.RootNode = root

	// No caching of entries or attributes (file data is served with
	// direct I/O): after a cut the very next stat or read sees the medium.
	var zero time.Duration
	fsOpts := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		Logger:          logger,
		MountOptions: fuse.MountOptions{
			FsName: abs,
			Name:   Name,
			// Mount and unmount with mount(2) and umount(2): no
			// fusermount child forked from a process that serves FUSE.
			DirectMountStrict: true,
			Debug:             opts.Debug,
			Logger:            logger,
		},
	}
	server, err := fuse.NewServer(fs.NewNodeFS(root, fsOpts), dir, &fsOpts.MountOptions)
	if err != nil {
		tb.Fatalf("powerfs: mount %s on %s: %v", abs, dir, err)
	}
	f.server = server
	go func() {
		defer close(f.served)
		server.Serve()
	}()
	if err := server.WaitMount(); err != nil {
		select {
		case <-f.served:
		case <-time.After(servePatience):
			tb.Errorf("powerfs: serve loop of %s did not end after the mount failed", dir)
		}
		tb.Fatalf("powerfs: mount %s on %s: %v", abs, dir, err)
	}
	tb.Cleanup(func() {
		f.unmount(tb)
		f.closeAll()
		logs.close()
	})
	return f
}

// skipUnlessFUSE skips tb (or fails it under ROMSYNCD_REQUIRE_MOUNTS) unless
// this process can mount FUSE filesystems.
func skipUnlessFUSE(tb testing.TB) {
	tb.Helper()
	skip := tb.Skipf
	if os.Getenv(testfs.RequireEnv) != "" {
		skip = tb.Fatalf
	}
	if euid := os.Geteuid(); euid != 0 {
		skip("powerfs: mounting FUSE needs root (euid is %d)", euid)
		return
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		skip("powerfs: FUSE unavailable: %v", err)
		return
	}
	dev.Close()
}

// unmount unmounts f, retrying while files on it are still open; after
// unmountPatience it reports the open file and detaches the mount.
func (f *FS) unmount(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(unmountPatience)
	for {
		err := f.server.Unmount()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Errorf("powerfs: unmount %s: %v; detaching it (a file on it is still open)", f.dir, err)
			if err := unix.Unmount(f.dir, unix.MNT_DETACH); err != nil {
				tb.Errorf("powerfs: detach %s: %v", f.dir, err)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-f.served:
	case <-time.After(servePatience):
		tb.Errorf("powerfs: %s still served %v after unmount", f.dir, servePatience)
	}
}

// testLog sends go-fuse's log lines to the test log while the test runs, and
// to stderr after it ended.
type testLog struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return fmt.Fprintf(os.Stderr, "%s", p)
	}
	l.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
}

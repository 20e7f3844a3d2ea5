package faultfs

import (
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
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
)

// How long the cleanup of a mount waits for open files to be closed before
// it detaches the mount lazily, and then for the serve loop to return.
const (
	unmountPatience = 5 * time.Second
	servePatience   = 10 * time.Second
)

// Mount serves backing through a fault-injecting FUSE filesystem mounted at a
// new directory under tb.TempDir(), and unmounts it when the test ends. It
// skips the test when the process is not root or /dev/fuse is unavailable.
func Mount(tb testing.TB, backing string, opts Options) *FS {
	tb.Helper()
	skipUnlessFUSE(tb)

	abs, err := filepath.Abs(backing)
	if err != nil {
		tb.Fatalf("faultfs: mount %s: %v", backing, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		tb.Fatalf("faultfs: mount %s: %v", abs, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		tb.Fatalf("faultfs: mount %s: not a directory", abs)
	}
	dir := filepath.Join(tb.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("faultfs: mount %s: %v", abs, err)
	}

	logs := &testLog{tb: tb}
	logger := log.New(logs, "", 0)
	f := &FS{
		dir:      dir,
		backing:  abs,
		seed:     opts.Seed,
		logf:     logger.Printf,
		stop:     make(chan struct{}),
		served:   make(chan struct{}),
		rules:    make(map[string]*rule),
		injected: make(map[string]int),
		streams:  make(map[streamKey]*rand.Rand),
	}

	rootData := &fs.LoopbackRoot{Path: abs, Dev: uint64(st.Dev)}
	root := &node{LoopbackNode: &fs.LoopbackNode{RootData: rootData}, fsys: f}
	rootData.RootNode = root

	// No caching of entries or attributes: a StatSize or ChangeWhileRead
	// fault must show in the very next stat.
	var zero time.Duration
	fsOpts := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		Logger:          logger,
		MountOptions: fuse.MountOptions{
			FsName:      abs,
			Name:        "romsyncd-faultfs",
			DirectMount: true,
			Debug:       opts.Debug,
			Logger:      logger,
		},
	}
	server, err := fuse.NewServer(fs.NewNodeFS(root, fsOpts), dir, &fsOpts.MountOptions)
	if err != nil {
		tb.Fatalf("faultfs: mount %s on %s: %v", abs, dir, err)
	}
	f.server = server
	go func() {
		defer close(f.served)
		server.Serve()
	}()
	if err := server.WaitMount(); err != nil {
		// Without a mount the serve loop ends by itself.
		select {
		case <-f.served:
		case <-time.After(servePatience):
			tb.Errorf("faultfs: serve loop of %s did not end after the mount failed", dir)
		}
		tb.Fatalf("faultfs: mount %s on %s: %v", abs, dir, err)
	}
	tb.Cleanup(func() {
		f.unmount(tb)
		logs.close()
	})
	return f
}

// skipUnlessFUSE skips tb unless this process can mount FUSE filesystems.
func skipUnlessFUSE(tb testing.TB) {
	tb.Helper()
	if euid := os.Geteuid(); euid != 0 {
		tb.Skipf("faultfs: mounting FUSE needs root (euid is %d)", euid)
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		tb.Skipf("faultfs: FUSE unavailable: %v", err)
	}
	dev.Close()
}

// unmount unmounts f, retrying while files on it are still open; after
// unmountPatience it detaches the mount lazily. Then it waits for the serve
// loop.
func (f *FS) unmount(tb testing.TB) {
	tb.Helper()
	close(f.stop)
	deadline := time.Now().Add(unmountPatience)
	for {
		err := f.server.Unmount()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Errorf("faultfs: unmount %s: %v; detaching it lazily (a file on it is still open)", f.dir, err)
			if err := unix.Unmount(f.dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				tb.Errorf("faultfs: detach %s: %v", f.dir, err)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-f.served:
	case <-time.After(servePatience):
		tb.Errorf("faultfs: %s still served %v after unmount: a file on it is still open", f.dir, servePatience)
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

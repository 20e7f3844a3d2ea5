package faultfs

import (
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// How long the cleanup of a mount retries the unmount while a file on it is
// still open before it detaches it lazily, and waits for the serve loop.
// Variables so that the test of that path does not take seconds.
var (
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
			FsName: abs,
			Name:   "romsyncd-faultfs",
			// Mount and unmount with mount(2) and umount(2): no
			// fusermount child forked from a process that serves FUSE.
			DirectMountStrict: true,
			Debug:             opts.Debug,
			Logger:            logger,
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
	var mst syscall.Stat_t
	if err := syscall.Stat(dir, &mst); err != nil {
		tb.Errorf("faultfs: mount %s on %s: %v", abs, dir, err)
	}
	f.conn = uint64(unix.Major(mst.Dev))<<20 | uint64(unix.Minor(mst.Dev))
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

// unmount unmounts f, retrying while files on it are still open. After
// unmountPatience it reports the open file as a test error, detaches the
// mount and aborts its FUSE connection, so that the serve loop ends anyway.
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
			tb.Errorf("faultfs: unmount %s: %v; detaching it and aborting its connection (a file on it is still open)", f.dir, err)
			if err := unix.Unmount(f.dir, unix.MNT_DETACH); err != nil {
				tb.Errorf("faultfs: detach %s: %v", f.dir, err)
			}
			if err := f.abort(); err != nil {
				tb.Errorf("faultfs: %v", err)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-f.served:
	case <-time.After(servePatience):
		tb.Errorf("faultfs: %s still served %v after unmount", f.dir, servePatience)
	}
}

// abort aborts the FUSE connection of f through a private mount of fusectl:
// the serve loop reads ENODEV and returns, and files still open on the mount
// fail with ENOTCONN.
func (f *FS) abort() error {
	ctl, err := os.MkdirTemp("", "faultfs-fusectl-")
	if err != nil {
		return fmt.Errorf("abort %s: %w", f.dir, err)
	}
	defer os.Remove(ctl)
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("abort %s: mount fusectl on %s: %w", f.dir, ctl, err)
	}
	defer unix.Unmount(ctl, 0)
	p := filepath.Join(ctl, strconv.FormatUint(f.conn, 10), "abort")
	if err := os.WriteFile(p, []byte("1"), 0); err != nil {
		return fmt.Errorf("abort %s: %w", f.dir, err)
	}
	return nil
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

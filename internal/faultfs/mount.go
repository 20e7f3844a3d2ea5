package faultfs

import (
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/internal/fusemount"
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
// skips the test when the process is not root or /dev/fuse is unavailable
// (fails it under ROMSYNCD_REQUIRE_MOUNTS, as CI does).
func Mount(tb testing.TB, backing string, opts Options) *FS {
	tb.Helper()
	fusemount.SkipUnlessFUSE(tb, "faultfs")
	abs, dev := fusemount.Backing(tb, "faultfs", backing)
	logs := fusemount.NewLog(tb)
	f := &FS{
		backing:  abs,
		seed:     opts.Seed,
		logf:     log.New(logs, "", 0).Printf,
		stop:     make(chan struct{}),
		rules:    make(map[string]*rule),
		injected: make(map[string]int),
		streams:  make(map[streamKey]*rand.Rand),
	}
	rootData := &fs.LoopbackRoot{Path: abs, Dev: dev}
	root := &node{LoopbackNode: &fs.LoopbackNode{RootData: rootData}, fsys: f}
	rootData.RootNode = root

	// No caching of entries or attributes: a StatSize or ChangeWhileRead
	// fault must show in the very next stat.
	f.srv = fusemount.Serve(tb, root, fusemount.Options{
		Who: "faultfs", Dir: "mnt", FsName: abs, Name: "romsyncd-faultfs", Debug: opts.Debug, Log: logs,
		Unmount: unmountPatience, Serve: servePatience,
	})
	f.dir = f.srv.Dir
	var mst syscall.Stat_t
	if err := syscall.Stat(f.dir, &mst); err != nil {
		tb.Errorf("faultfs: mount %s on %s: %v", abs, f.dir, err)
	}
	f.conn = uint64(unix.Major(mst.Dev))<<20 | uint64(unix.Minor(mst.Dev))
	tb.Cleanup(func() {
		close(f.stop)
		// A file still open: abort the connection too, so that the serve
		// loop ends anyway.
		f.srv.Unmount(tb, func() {
			if err := f.abort(); err != nil {
				tb.Errorf("faultfs: %v", err)
			}
		})
		logs.Close()
	})
	return f
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

// Package fusemount mounts a go-fuse node tree for a test at a folder of its
// own and takes it down when the test ends, even with a file still open on
// it: the scaffolding the test filesystems (faultfs, powerfs) share.
package fusemount

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

// SkipUnlessFUSE skips tb (or fails it when testfs.RequireEnv is set, as CI
// does) unless this process can mount FUSE filesystems. who names the
// caller in the message.
func SkipUnlessFUSE(tb testing.TB, who string) {
	tb.Helper()
	skip := tb.Skipf
	if os.Getenv(testfs.RequireEnv) != "" {
		skip = tb.Fatalf
	}
	if euid := os.Geteuid(); euid != 0 {
		skip("%s: mounting FUSE needs root (euid is %d)", who, euid)
		return
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		skip("%s: FUSE unavailable: %v", who, err)
		return
	}
	dev.Close()
}

// Backing returns backing as an absolute path and its device number; it
// fails tb unless backing is a folder.
func Backing(tb testing.TB, who, backing string) (abs string, dev uint64) {
	tb.Helper()
	abs, err := filepath.Abs(backing)
	if err != nil {
		tb.Fatalf("%s: mount %s: %v", who, backing, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		tb.Fatalf("%s: mount %s: %v", who, abs, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		tb.Fatalf("%s: mount %s: not a directory", who, abs)
	}
	return abs, uint64(st.Dev)
}

// Options say how Serve mounts.
type Options struct {
	Who     string // the caller, in messages: "faultfs"
	Dir     string // the mount point's name under tb.TempDir()
	FsName  string // the source mountinfo shows (the backing folder)
	Name    string // the filesystem type's subtype: fuse.<Name>
	Debug   bool   // log every FUSE request and reply
	Log     *Log   // where go-fuse logs
	Unmount time.Duration
	Serve   time.Duration
}

// Server is a mounted, served node tree.
type Server struct {
	Dir    string
	o      Options
	server *fuse.Server
	served chan struct{}
}

// Serve mounts root at a new folder under tb.TempDir(), with no caching of
// entries or attributes (a test's change shows in the very next stat), and
// serves it until Unmount. It mounts with mount(2): no fusermount child is
// forked from a process that serves FUSE.
func Serve(tb testing.TB, root fs.InodeEmbedder, o Options) *Server {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), o.Dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatalf("%s: mount %s: %v", o.Who, o.FsName, err)
	}
	logger := log.New(o.Log, "", 0)
	var zero time.Duration
	fsOpts := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		Logger:          logger,
		MountOptions: fuse.MountOptions{
			FsName:            o.FsName,
			Name:              o.Name,
			DirectMountStrict: true,
			Debug:             o.Debug,
			Logger:            logger,
		},
	}
	server, err := fuse.NewServer(fs.NewNodeFS(root, fsOpts), dir, &fsOpts.MountOptions)
	if err != nil {
		tb.Fatalf("%s: mount %s on %s: %v", o.Who, o.FsName, dir, err)
	}
	s := &Server{Dir: dir, o: o, server: server, served: make(chan struct{})}
	go func() {
		defer close(s.served)
		server.Serve()
	}()
	if err := server.WaitMount(); err != nil {
		// Without a mount the serve loop ends by itself.
		select {
		case <-s.served:
		case <-time.After(o.Serve):
			tb.Errorf("%s: serve loop of %s did not end after the mount failed", o.Who, dir)
		}
		tb.Fatalf("%s: mount %s on %s: %v", o.Who, o.FsName, dir, err)
	}
	return s
}

// Unmount unmounts s, retrying while files on it are still open. After the
// Unmount patience it reports the open file as a test error, detaches the
// mount and calls stuck (which may abort the connection, so that the serve
// loop ends anyway); then it waits for the serve loop.
func (s *Server) Unmount(tb testing.TB, stuck func()) {
	tb.Helper()
	deadline := time.Now().Add(s.o.Unmount)
	for {
		err := s.server.Unmount()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Errorf("%s: unmount %s: %v; detaching it (a file on it is still open)", s.o.Who, s.Dir, err)
			if err := unix.Unmount(s.Dir, unix.MNT_DETACH); err != nil {
				tb.Errorf("%s: detach %s: %v", s.o.Who, s.Dir, err)
			}
			if stuck != nil {
				stuck()
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-s.served:
	case <-time.After(s.o.Serve):
		tb.Errorf("%s: %s still served %v after unmount", s.o.Who, s.Dir, s.o.Serve)
	}
}

// Log sends go-fuse's log lines to the test log while the test runs, and to
// stderr after it ended.
type Log struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

// NewLog returns a Log for tb; Close it when the test's mount is gone.
func NewLog(tb testing.TB) *Log { return &Log{tb: tb} }

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return fmt.Fprintf(os.Stderr, "%s", p)
	}
	l.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Close sends later lines to stderr (the test has ended).
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
}

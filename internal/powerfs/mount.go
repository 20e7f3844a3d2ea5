package powerfs

import (
	"log"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/romsyncd/romsyncd/internal/fusemount"
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
	fusemount.SkipUnlessFUSE(tb, "powerfs")
	abs, dev := fusemount.Backing(tb, "powerfs", backing)
	logs := fusemount.NewLog(tb)
	f := &FS{
		backing: abs,
		logf:    log.New(logs, "", 0).Printf,
		files:   make(map[fileID]*file),
	}
	rootData := &fs.LoopbackRoot{Path: abs, Dev: dev}
	root := &node{LoopbackNode: &fs.LoopbackNode{RootData: rootData}, fsys: f}
	rootData.RootNode = root

	// No caching of entries or attributes (file data is served with
	// direct I/O): after a cut the very next stat or read sees the medium.
	f.srv = fusemount.Serve(tb, root, fusemount.Options{
		Who: "powerfs", Dir: "power", FsName: abs, Name: Name, Debug: opts.Debug, Log: logs,
		Unmount: unmountPatience, Serve: servePatience,
	})
	f.dir = f.srv.Dir
	tb.Cleanup(func() {
		f.srv.Unmount(tb, nil)
		f.closeAll()
		logs.Close()
	})
	return f
}

package sync

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

// tempFile is a temp file being written next to its final name: the life
// every install shares (a library file, a zip's member, a generated
// playlist), from create to the close that leaves it ready to verify.
type tempFile struct {
	path string
	fd   int // -1 once closed
	dir  string
}

// openTemp creates a new temp file in dstDir.
func (c *copier) openTemp(dstDir string, perm uint32) (*tempFile, error) {
	p, fd, err := createTemp(dstDir, perm, !c.noChmod)
	if err != nil {
		return nil, outcome.OfTarget(dstDir, &targetIOError{fmt.Errorf("create temp in %s: %w", dstDir, err)})
	}
	return &tempFile{path: p, fd: fd, dir: dstDir}, nil
}

// write writes data; rel and need (the bytes the file still needs) name
// what ran out of room when the card fills after the free-space check.
func (t *tempFile) write(data []byte, rel string, need int64) error {
	err := writeAll(t.fd, data)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		// Another writer took the space after the check.
		have, _ := targetfs.Free(t.dir)
		return fmt.Errorf("%w: need %s more for %s, have %s free in %s: %w", outcome.ErrTargetFull,
			bytesize.Format(need), rel, bytesize.Format(int64(have)), t.dir, err)
	default:
		return outcome.OfTarget(t.dir, &targetIOError{fmt.Errorf("write %s: %w", t.path, err)})
	}
}

// finish sets the file's mtime, makes it durable where the target needs a
// file's own fsync (perFileSync) and closes it.
func (t *tempFile) finish(mtime unix.Timespec, perFileSync bool) error {
	ts := []unix.Timespec{mtime, mtime}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, t.path, ts, 0); err != nil {
		return outcome.OfTarget(t.dir, &targetIOError{fmt.Errorf("set mtime of %s: %w", t.path, err)})
	}
	if perFileSync {
		if err := unix.Fsync(t.fd); err != nil {
			return outcome.OfTarget(t.dir, &targetIOError{fmt.Errorf("fsync %s: %w", t.path, err)})
		}
	}
	fd := t.fd
	t.fd = -1
	if err := unix.Close(fd); err != nil {
		return outcome.OfTarget(t.dir, &targetIOError{fmt.Errorf("close %s: %w", t.path, err)})
	}
	return nil
}

// discard closes (if still open) and removes the temp file: the install
// failed.
func (t *tempFile) discard() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	os.Remove(t.path)
}

package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new, failing with fs.ErrExist when new
// exists. Filesystems without RENAME_NOREPLACE (several FUSE drivers) fall
// back to a check followed by a plain rename; the window is one syscall.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("rename %s: %w", newpath, fs.ErrExist)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.ENOTSUP):
		if _, serr := os.Lstat(newpath); serr == nil {
			return fmt.Errorf("rename %s: %w", newpath, fs.ErrExist)
		}
		return os.Rename(oldpath, newpath)
	default:
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
}

// dropCache asks the kernel to forget the cached pages of f, so that a
// following read comes from the medium and a mirror does not evict the
// page cache of the machine's real work. Errors are ignored: it is advice.
func dropCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

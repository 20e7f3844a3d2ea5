package sync

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// recentWrite is how recently a library file must have been modified for
// romsyncd to ask the kernel whether somebody still has it open for writing.
const recentWrite = 10 * time.Second

// beingWritten reports whether another process holds fd's file open for writing,
// as far as the kernel can tell: a read lease is refused (EAGAIN) while any
// writer has the file open. Only recently modified files are checked; where
// leases are not available (another user's file without CAP_LEASE, NFS,
// FUSE) the answer is false and the before/after stat check stands alone.
func beingWritten(fd int, mtime time.Time) bool {
	if time.Since(mtime) > recentWrite {
		return false
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK)
	if err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return false
	}
	return errors.Is(err, unix.EAGAIN)
}

package sync

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/romsyncd/romsyncd/internal/bytesize"
)

// errSourceChanged: the library file changed while it was read. The file is
// left for the next pass; it is reported as busy, not as an error.
var errSourceChanged = errors.New("source changed while it was copied")

// errShortRead: fewer (or more) bytes were read than the file's size, while
// the file did not change: a faulty read, retried and never installed.
var errShortRead = errors.New("short read")

// transient reports whether err is worth retrying.
func transient(err error) bool {
	return errors.Is(err, errShortRead) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINTR) ||
		errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ETIMEDOUT)
}

// targetIOError marks a failure of the target side of a copy (the temp
// file on the card), as opposed to reading the library: it does not make
// the pass's reading of the library incomplete.
type targetIOError struct{ err error }

func (e *targetIOError) Error() string { return e.err.Error() }
func (e *targetIOError) Unwrap() error { return e.err }

type tooLargeError struct{ size, max int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("too large for the target filesystem (%s, at most %s)", bytesize.Format(e.size), bytesize.Format(e.max))
}

// errVerify: the file read back from the target is not what was written.
var errVerify = errors.New("corrupted on the target")

// isTargetSide reports whether a copy's error is the target's (no room,
// read-only, gone) rather than the library file's.
func isTargetSide(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOTCONN)
}

// Package outcome names every kind of outcome a pass can have: why a
// profile could not run, and why a file was left out. The engine returns
// these kinds; each consumer (the CLI's exit codes, the daemon's states and
// log levels, the metrics' labels) maps them in one table of its own. A new
// kind is added here, once.
package outcome

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/targetfs"
)

// Kind classifies the error a pass or an open of a profile returned.
type Kind int

// The kinds of profile-level outcome. The first group pauses a profile
// until its card or library is back; the second stops a pass that could
// otherwise run.
const (
	OK Kind = iota
	// MarkerMissing: the target exists but holds no .romsyncd marker.
	MarkerMissing
	// TargetOffline: the target is absent, pulled, read-only, or lies in
	// an empty mount point.
	TargetOffline
	// TargetBusy: another romsyncd process holds the target's lock.
	TargetBusy
	// WrongProfile: the target's marker names another profile.
	WrongProfile
	// SourceOffline: the library is missing, unreadable, or empty while
	// the target holds installed files.
	SourceOffline
	// TargetFull: the target filled up during the pass.
	TargetFull
	// TooManyDeletes: the pass would delete more than max_delete allows.
	TooManyDeletes
	// Canceled: the pass was interrupted.
	Canceled
	// Failed: any other failure that stopped the profile (I/O).
	Failed
)

var kindNames = [...]string{
	OK: "", MarkerMissing: "marker_missing", TargetOffline: "target_offline", TargetBusy: "target_busy",
	WrongProfile: "wrong_profile", SourceOffline: "source_offline", TargetFull: "target_full",
	TooManyDeletes: "too_many_deletes", Canceled: "canceled", Failed: "failed",
}

// String is the kind's stable name, as in JSON reports and metric labels.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; an unknown name (a
// newer daemon's) reads as Failed.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	*k = Failed
	return nil
}

// Error is a sentinel of one kind. Errors wrap it with %w; errors.Is and
// Of find it.
type Error struct {
	kind Kind
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Kind is the kind the sentinel stands for.
func (e *Error) Kind() Kind { return e.kind }

// The sentinels the engine wraps, one per kind that has one.
var (
	ErrMarkerMissing  = &Error{MarkerMissing, "no .romsyncd marker"}
	ErrTargetOffline  = &Error{TargetOffline, "target offline"}
	ErrTargetBusy     = &Error{TargetBusy, "target in use by another romsyncd"}
	ErrWrongProfile   = &Error{WrongProfile, "target belongs to another profile"}
	ErrSourceOffline  = &Error{SourceOffline, "source offline"}
	ErrTargetFull     = &Error{TargetFull, "target full"}
	ErrTooManyDeletes = &Error{TooManyDeletes, "too many deletions"}
)

// Of returns the kind of err: OK for nil, Canceled for a cancelled
// context, the kind of the sentinel it wraps, else Failed.
func Of(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return OK
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.As(err, &e):
		return e.kind
	}
	return Failed
}

// Skip says why a file was left out of a pass.
type Skip string

// The reasons a file is skipped. The text of an Item says the details.
const (
	// Busy: the library file changed while it was read, or is still being
	// written; the daemon retries it once its folder is quiet.
	Busy Skip = "busy"
	// TooLarge: larger than the target filesystem holds.
	TooLarge Skip = "too_large"
	// Name: the target cannot hold its name (or its folder's name), or the
	// name is not valid UTF-8.
	Name Skip = "name"
	// Link: a library link romsyncd does not follow.
	Link Skip = "link"
	// NoRoom: the card has not enough free space for it (the files that
	// fit are copied).
	NoRoom Skip = "no_room"
)

// OfTarget turns an error of an operation on the target into the
// profile-level condition it means: no space is TargetFull, a read-only or
// vanished filesystem is TargetOffline. Other errors are returned as they
// are.
func OfTarget(dir string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		if have, ferr := targetfs.Free(dir); ferr == nil {
			return fmt.Errorf("%w: have %s free in %s: %v", ErrTargetFull, bytesize.Format(int64(have)), dir, err)
		}
		return fmt.Errorf("%w: in %s: %v", ErrTargetFull, dir, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s is read-only: %v", ErrTargetOffline, dir, err)
	case errors.Is(err, syscall.ENOTCONN), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("%w: %s went away: %v", ErrTargetOffline, dir, err)
	}
	return err
}

// Fatal reports whether err means the target as a whole is unusable: the
// pass stops instead of reporting the file or folder it happened to.
func Fatal(err error) bool {
	return errors.Is(err, ErrTargetFull) || errors.Is(err, ErrTargetOffline)
}

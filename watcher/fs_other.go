//go:build !linux

package watcher

import (
	"errors"
	"fmt"
	"io/fs"
)

// IsNetworkFS reports whether path is on a network or FUSE filesystem. The
// statfs check is implemented for Linux only; elsewhere it returns an error
// wrapping errors.ErrUnsupported, and ModeAuto falls back to notify.
func IsNetworkFS(path string) (bool, string, error) {
	return false, "", fmt.Errorf("statfs %s: %w", path, errors.ErrUnsupported)
}

// inodeAndCtime is not available outside Linux; poll snapshots then rely on
// name, size, mtime and mode alone.
func inodeAndCtime(fs.FileInfo) (ino uint64, ctime int64) { return 0, 0 }

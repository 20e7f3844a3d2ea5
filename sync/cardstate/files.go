package cardstate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Names romsyncd uses on a target.
const (
	// MetaDirName is the folder at the target root that holds the marker,
	// the lock, the manifests and the journal.
	MetaDirName = ".romsyncd"
	// MarkerName is the marker file inside MetaDirName.
	MarkerName = "marker"
	lockName   = "lock"
	foldersDir = "folders"
	// TempPrefix and TempSuffix frame the name of every temp file romsyncd
	// writes on a target (dot-prefixed: no frontend lists it).
	TempPrefix = ".romsyncd-"
	TempSuffix = ".tmp"
)

// IsTemp reports whether name is a romsyncd temp file's name.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, TempPrefix) && strings.HasSuffix(name, TempSuffix)
}

// FsyncDir makes a folder's entries (new names, renames, removals) durable.
func FsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temp file in the same
// folder: write, fsync, rename, and (when durable) fsync the folder. The
// data is always durable before the rename: a power cut may lose the
// rename (the previous version stays), never the data under the new name.
func WriteFileAtomic(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+"*"+TempSuffix)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if durable {
		return FsyncDir(dir)
	}
	return nil
}

// SafeDir returns the absolute target folder for dir, refusing any path
// whose components below the target root are links or files: a link on the
// card must never let romsyncd write outside it.
func SafeDir(root, dir string) (string, error) {
	if dir == "." {
		return root, nil
	}
	p := root
	for _, c := range strings.Split(dir, "/") {
		p = filepath.Join(p, c)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // created when needed
		}
		if err != nil {
			return "", fmt.Errorf("target folder %s: %w", p, err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("target folder %s: a file or link is in the way; romsyncd writes only into real folders", p)
		}
	}
	return filepath.Join(root, filepath.FromSlash(dir)), nil
}

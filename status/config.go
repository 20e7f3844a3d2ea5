package status

import (
	"os"
	"path/filepath"
	"syscall"
)

// ConfigFile names the configuration file a daemon runs, so that a client
// hands a pass only to a daemon of its own configuration.
type ConfigFile struct {
	Path string `json:"path"` // absolute, cleaned
	// Dev and Ino identify the file when it could be stat'ed (0 otherwise):
	// the same file reached by two paths (a symlink, a bind mount).
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
}

// ConfigFileOf describes the configuration file at path, resolved against
// the working directory.
func ConfigFileOf(path string) ConfigFile {
	if path == "" {
		return ConfigFile{}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	c := ConfigFile{Path: abs}
	if fi, err := os.Stat(abs); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			c.Dev, c.Ino = uint64(st.Dev), st.Ino
		}
	}
	return c
}

// Same reports whether c and o are the same file: the same path, or the
// same device and inode.
func (c ConfigFile) Same(o ConfigFile) bool {
	if c.Path == "" || o.Path == "" {
		return false
	}
	if c.Path == o.Path {
		return true
	}
	return c.Ino != 0 && c.Dev == o.Dev && c.Ino == o.Ino
}

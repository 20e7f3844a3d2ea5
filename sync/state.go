package sync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// StatePath is where a profile's first-pass state lives under stateDir:
// the file that says its target was created or adopted ("" without a
// state dir).
func StatePath(stateDir, profile string) string {
	if stateDir == "" {
		return ""
	}
	return filepath.Join(stateDir, profile+".target")
}

// Adopted reports whether the profile's first pass happened (its target was
// created or adopted): a missing target is then an absent card.
func Adopted(stateDir, profile string) bool {
	p := StatePath(stateDir, profile)
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

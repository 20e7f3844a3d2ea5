package cardstate

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestManifestNeverRecreatesTheMetaFolder: a manifest write on a target
// whose .romsyncd is gone (the card pulled: its mount point is an empty
// folder) fails instead of creating .romsyncd and the folders above it.
func TestManifestNeverRecreatesTheMetaFolder(t *testing.T) {
	mnt := t.TempDir()
	meta := filepath.Join(mnt, "Roms", MetaDirName)
	err := WriteManifest(meta, &Folder{Dir: "gb", Files: map[string]*Entry{"a.gb": {Source: "gb/a.gb"}}}, true)
	require.ErrorIs(t, err, fs.ErrNotExist)
	ents, err := os.ReadDir(mnt)
	require.NoError(t, err)
	assert.Empty(t, ents)

	require.NoError(t, os.MkdirAll(meta, 0o755))
	require.NoError(t, WriteManifest(meta, &Folder{Dir: "gb", Files: map[string]*Entry{"a.gb": {Source: "gb/a.gb"}}}, true))
	mans, err := LoadManifests(meta)
	require.NoError(t, err)
	assert.Contains(t, mans["gb"].Files, "a.gb")
}

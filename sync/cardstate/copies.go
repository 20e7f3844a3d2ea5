package cardstate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// copies keeps a copy of a card's manifests on the host (in the state
// dir, under the card's marker id), so that a manifest the card damaged —
// a power cut, a failing card, a filesystem error — is restored with what
// romsyncd owned instead of making the card's files foreign. The copy
// follows every durable save; it is a backup, so failing to write it does
// not fail the save.
type copies struct {
	dir string // "" keeps no copies
}

func (c copies) path(dir string) string { return filepath.Join(c.dir, manifestName(dir)) }

// write stores the encoded manifest of dir (nil: removes the copy).
func (c copies) write(dir string, data []byte) {
	if c.dir == "" {
		return
	}
	if data == nil {
		_ = os.Remove(c.path(dir))
		return
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return
	}
	_ = WriteFileAtomic(c.path(dir), data, false)
}

// load reads the copy of the manifest stored under file name name.
func (c copies) load(name string) (*Folder, error) {
	if c.dir == "" {
		return nil, fs.ErrNotExist
	}
	p := filepath.Join(c.dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return decodeManifest(p, name, data)
}

// heal replaces each damaged manifest of the card by the host's copy, and
// writes it back to the card. A manifest no copy holds starts empty: its
// folder is returned in unrecorded, and the engine adopts the files there
// that are identical to the library's. Only a marker that is missing or
// names another profile stops a card; a damaged manifest never does.
func (t *State) heal(damaged []damagedManifest, dryRun bool) (healed []Healed, err error) {
	for _, d := range damaged {
		f, cerr := t.copies.load(d.name)
		h := Healed{File: filepath.Join(t.meta, foldersDir, d.name), Damage: d.err}
		if cerr == nil {
			h.Dir, h.FromCopy = f.Dir, true
			t.folders[f.Dir] = f
			if dryRun {
				healed = append(healed, h)
				continue
			}
			if err := t.Save(f.Dir, true); err != nil {
				return healed, fmt.Errorf("restore manifest %s: %w", h.File, err)
			}
		} else if !dryRun {
			// The folder is unknown: the file name is a hash of it. The
			// damaged file goes; the pass adopts what it can.
			if err := os.Remove(h.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return healed, fmt.Errorf("remove damaged manifest %s: %w", h.File, err)
			}
			if err := FsyncDir(filepath.Dir(h.File)); err != nil {
				return healed, err
			}
		}
		healed = append(healed, h)
	}
	return healed, nil
}

// Healed is a damaged manifest Open found, and what it did about it.
type Healed struct {
	File     string // the manifest file on the card
	Damage   error  // what was wrong with it
	Dir      string // its target folder, when a copy said
	FromCopy bool   // restored from the host's copy
}

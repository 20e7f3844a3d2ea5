package saves

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"golang.org/x/sys/unix"
)

// IndexName is the file in BACKUP/<card-id>/ that records what the backup
// of a card holds.
const IndexName = "index.json"

const indexVersion = 1

// Index records, for one card, every save file romsyncd has seen on it and
// the versions of it the backup holds. It lives on the backup side only.
type Index struct {
	Version int                   `json:"version"`
	Card    string                `json:"card"`
	Layout  string                `json:"layout"`
	Updated time.Time             `json:"updated"`
	Files   map[string]*FileEntry `json:"files"` // by path relative to the card root
}

// FileEntry is one save file of the card.
type FileEntry struct {
	Kind     Kind   `json:"kind"`
	Platform string `json:"platform"`
	Game     string `json:"game"`
	// Size and Mtime (Unix ns) are what the card's file looked like when
	// its content was last read: equal on the next run, it is not read.
	Size     int64          `json:"size"`
	Mtime    int64          `json:"mtime"`
	Hash     cardstate.Hash `json:"hash"`
	Versions []*Version     `json:"versions"`
}

// Version is one backed-up version of a save: a file under the card's
// backup folder that romsyncd wrote.
type Version struct {
	File     string         `json:"file"` // relative to BACKUP/<card-id>, slash-separated
	Size     int64          `json:"size"`
	Mtime    int64          `json:"mtime"` // of the save on the card (the copy has it too)
	Hash     cardstate.Hash `json:"hash"`
	BackedUp time.Time      `json:"backed_up"`
}

// newest returns the entry's newest version (by the save's mtime, then by
// when it was backed up), or nil.
func (e *FileEntry) newest() *Version {
	if len(e.Versions) == 0 {
		return nil
	}
	e.sortVersions()
	return e.Versions[len(e.Versions)-1]
}

func (e *FileEntry) sortVersions() {
	sort.SliceStable(e.Versions, func(i, j int) bool {
		a, b := e.Versions[i], e.Versions[j]
		if a.Mtime != b.Mtime {
			return a.Mtime < b.Mtime
		}
		return a.BackedUp.Before(b.BackedUp)
	})
}

func (e *FileEntry) withHash(h cardstate.Hash) *Version {
	for _, v := range e.Versions {
		if v.Hash == h {
			return v
		}
	}
	return nil
}

// loadIndex reads dir/index.json; a missing index is an empty one.
func loadIndex(dir string) (*Index, error) {
	p := filepath.Join(dir, IndexName)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &Index{Version: indexVersion, Files: map[string]*FileEntry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read save index %s: %w", p, err)
	}
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("read save index %s: %w (move it away to rebuild it from the card)", p, err)
	}
	if ix.Version != indexVersion {
		return nil, fmt.Errorf("read save index %s: version %d, this romsyncd reads %d", p, ix.Version, indexVersion)
	}
	if ix.Files == nil {
		ix.Files = map[string]*FileEntry{}
	}
	return &ix, nil
}

// save writes the index atomically and durably (data fsynced before the
// rename, the folder after).
func (ix *Index) save(dir string) error {
	ix.Updated = time.Now().UTC().Truncate(time.Second)
	data, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return fmt.Errorf("encode save index: %w", err)
	}
	if err := cardstate.WriteFileAtomic(filepath.Join(dir, IndexName), append(data, '\n'), true); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	return nil
}

// lockDir takes an exclusive flock on dir/.lock: one backup or restore of a
// card at a time (the daemon's and the CLI's). It returns the unlock.
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

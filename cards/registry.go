package cards

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// RegistryName is the registry's file in the state directory.
const RegistryName = "cards.json"

// Record is what the registry keeps of one card.
type Record struct {
	ID      string `json:"id"`
	Profile string `json:"profile"`
	Label   string `json:"label,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	// Folder is the target root relative to the card's root ("Roms").
	Folder     string    `json:"folder"`
	LastSeen   time.Time `json:"last_seen"`
	LastInSync time.Time `json:"last_in_sync,omitzero"`
	FreeBytes  uint64    `json:"free_bytes"`
	// MountedAt is the card's mount point when last seen, "" once the
	// daemon saw it unmounted; Root the target root there.
	MountedAt string `json:"mounted_at,omitempty"`
	Root      string `json:"root,omitempty"`
}

// file is the registry's JSON document.
type file struct {
	Version int      `json:"version"`
	Cards   []Record `json:"cards"`
}

const registryVersion = 1

// Registry is the cards.json file of a state directory. Every change is a
// read-modify-write under an flock of cards.lock, written atomically with
// its data fsynced before the rename, so the daemon and `romsyncd init` may
// both update it.
type Registry struct {
	path string
}

// OpenRegistry returns the registry of stateDir, creating the directory.
func OpenRegistry(stateDir string) (*Registry, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("card registry: %w", err)
	}
	return &Registry{path: filepath.Join(stateDir, RegistryName)}, nil
}

// Path returns the registry's file.
func (r *Registry) Path() string { return r.path }

// Cards returns every card the registry knows, by profile, label and id.
// A missing registry holds none.
func (r *Registry) Cards() ([]Record, error) {
	f, err := r.read()
	if err != nil {
		return nil, err
	}
	return f.Cards, nil
}

// Get returns the record of the card with id.
func (r *Registry) Get(id string) (Record, bool, error) {
	recs, err := r.Cards()
	if err != nil {
		return Record{}, false, err
	}
	i := slices.IndexFunc(recs, func(rec Record) bool { return rec.ID == id })
	if i < 0 {
		return Record{}, false, nil
	}
	return recs[i], true, nil
}

// Seen records that card c is mounted now, with free bytes free.
func (r *Registry) Seen(c Card, free uint64, now time.Time) error {
	return r.update(c.ID, func(rec *Record) {
		rec.Profile, rec.Label, rec.UUID = c.Profile, c.Mount.Label, c.Mount.UUID
		rec.Folder = c.Folder()
		rec.LastSeen, rec.FreeBytes = now.UTC(), free
		rec.MountedAt, rec.Root = c.Mount.MountPoint, c.Root
	})
}

// InSync records that a pass left the card with id complete and durable.
func (r *Registry) InSync(id string, free uint64, now time.Time) error {
	return r.update(id, func(rec *Record) {
		rec.LastInSync, rec.LastSeen, rec.FreeBytes = now.UTC(), now.UTC(), free
	})
}

// Gone records that the card with id was unmounted.
func (r *Registry) Gone(id string, now time.Time) error {
	return r.update(id, func(rec *Record) {
		rec.MountedAt, rec.Root = "", ""
		rec.LastSeen = now.UTC()
	})
}

// update applies fn to the record of id (a new one when the registry has
// none) under the registry's lock, and writes the registry durably.
func (r *Registry) update(id string, fn func(*Record)) error {
	if id == "" {
		return fmt.Errorf("card registry %s: card without an id", r.path)
	}
	unlock, err := r.lock()
	if err != nil {
		return err
	}
	defer unlock()
	f, err := r.read()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(f.Cards, func(rec Record) bool { return rec.ID == id })
	if i < 0 {
		f.Cards = append(f.Cards, Record{ID: id})
		i = len(f.Cards) - 1
	}
	fn(&f.Cards[i])
	sortRecords(f.Cards)
	f.Version = registryVersion
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("card registry %s: %w", r.path, err)
	}
	if err := cardstate.WriteFileAtomic(r.path, append(data, '\n'), true); err != nil {
		return fmt.Errorf("card registry: %w", err)
	}
	return nil
}

func sortRecords(recs []Record) {
	slices.SortFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Profile, b.Profile), cmp.Compare(a.Label, b.Label), cmp.Compare(a.ID, b.ID))
	})
}

func (r *Registry) read() (file, error) {
	var f file
	data, err := os.ReadFile(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("card registry: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("card registry %s: %w; move it away to start a new one", r.path, err)
	}
	if f.Version > registryVersion {
		return f, fmt.Errorf("card registry %s: version %d is newer than this romsyncd (%d)", r.path, f.Version, registryVersion)
	}
	sortRecords(f.Cards)
	return f, nil
}

// lock takes the registry's flock: one read-modify-write at a time, across
// processes.
func (r *Registry) lock() (unlock func(), err error) {
	p := filepath.Join(filepath.Dir(r.path), "cards.lock")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("card registry: lock %s: %w", p, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("card registry: lock %s: %w", p, err)
	}
	return func() { unix.Close(fd) }, nil
}

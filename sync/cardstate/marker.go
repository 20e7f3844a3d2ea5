package cardstate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

// Marker is the content of <target>/.romsyncd/marker.
type Marker struct {
	Profile string    `json:"profile"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// errBadMarker: the marker file was read but holds no romsyncd marker.
var errBadMarker = errors.New("not a romsyncd marker")

// openMarker checks the marker of an existing target folder, writing one
// where opts allow (an adoption, or a first pass killed before its marker).
func (t *State) openMarker(opts OpenOptions) error {
	if err := checkMeta(t.meta); err != nil {
		return err
	}
	m, err := readMarker(t.meta)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opts.MayCreate && !opts.DryRun && (onlyLeftovers(t.root) || opts.Resume && isEmpty(t.root) && creatable(t.meta)):
		// The very first pass was killed between creating the target and
		// writing its marker: finish the job.
		if err := t.writeMarker(opts.Profile, false); err != nil {
			return err
		}
		t.created = true
	case errors.Is(err, fs.ErrNotExist) && opts.Adopt && !opts.DryRun:
		// The adoption is recorded with the marker: a run killed before
		// it ends leaves files a later pass must adopt, not call foreign.
		if err := t.writeMarker(opts.Profile, true); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist) && opts.Adopt:
		t.marker = Marker{Profile: opts.Profile}
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("target %s has %w: if the card is mounted there and this is the right folder, run `romsyncd init --profile %s`; otherwise mount the card", t.root, outcome.ErrMarkerMissing, opts.Profile)
	case err != nil:
		return err
	default:
		t.marker = m
	}
	if t.marker.Profile != opts.Profile {
		return fmt.Errorf("target %s: %w %q (marker %s); use that profile, or remove the marker if the card was reassigned", t.root, outcome.ErrWrongProfile, t.marker.Profile, filepath.Join(t.meta, MarkerName))
	}
	return nil
}

// creatable reports whether p may be created: never inside the mount point
// of an absent card (an empty folder on the system disk under /media).
func creatable(p string) bool { return targetfs.CheckCreatable(p) == nil }

// isEmpty reports whether dir is an empty folder.
func isEmpty(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) == 0
}

// onlyLeftovers reports whether root holds nothing but what a first pass
// killed before its marker was in place leaves: romsyncd temp entries (a
// .romsyncd being built under a temp name), or a .romsyncd folder with
// nothing but temp files in it (left by older versions).
func onlyLeftovers(root string) bool {
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) == 0 {
		return false // an empty folder is nobody's leftovers: never adopted silently
	}
	for _, e := range ents {
		switch {
		case IsTemp(e.Name()):
		case e.Name() == MetaDirName && e.IsDir():
			inner, err := os.ReadDir(filepath.Join(root, MetaDirName))
			if err != nil {
				return false
			}
			for _, f := range inner {
				if !strings.HasPrefix(f.Name(), TempPrefix) || !f.Type().IsRegular() {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// ReadMarker reads the marker in meta (a target's MetaDirName folder).
func ReadMarker(meta string) (Marker, error) { return readMarker(meta) }

func readMarker(meta string) (Marker, error) {
	p := filepath.Join(meta, MarkerName)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Marker{}, err
		}
		return Marker{}, fmt.Errorf("read marker %s: %w", p, err)
	}
	var m Marker
	if err := json.Unmarshal(data, &m); err != nil || m.Profile == "" {
		return Marker{}, fmt.Errorf("read marker %s: %w (%v); remove it and run `romsyncd init`", p, errBadMarker, err)
	}
	return m, nil
}

// writeMarker gives the target its marker (and, adopting, first the note
// that an adoption is under way). A run killed before the marker is in
// place leaves a .romsyncd with nothing but temp files (or the note): the
// next first pass, or init, finishes the job.
func (t *State) writeMarker(profile string, adopting bool) error {
	if err := os.MkdirAll(t.meta, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", t.meta, err)
	}
	if adopting {
		if err := t.noteAdopting(profile); err != nil {
			return err
		}
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	t.marker = Marker{Profile: profile, ID: hex.EncodeToString(id[:]), Created: time.Now().UTC().Truncate(time.Second)}
	data, _ := json.MarshalIndent(t.marker, "", "  ")
	if err := WriteFileAtomic(filepath.Join(t.meta, MarkerName), append(data, '\n'), true); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	return FsyncDir(t.root)
}

// How often and how long Online reads a marker again that came back
// garbled, before it believes it.
const (
	markerRereads = 6
	markerReread  = 10 * time.Millisecond // doubled each time: 630 ms in all
)

// Online reports whether the target is still there: its marker readable
// with the same id. A card pulled or unmounted makes it false.
//
// A marker read back garbled is read again a few times first: fusefat
// returns zeros for a moment for a file while others are being written,
// and a card is not offline because of that.
func (t *State) Online() bool {
	wait := markerReread
	for try := 0; ; try++ {
		m, err := readMarker(t.meta)
		if err == nil {
			return m.ID == t.marker.ID
		}
		if !errors.Is(err, errBadMarker) || try == markerRereads {
			return false
		}
		time.Sleep(wait)
		wait *= 2
	}
}

// Offline returns an ErrTargetOffline error when the target's marker is
// gone or unreadable (the card was pulled or unmounted: its mount point is
// an empty folder that must never be written), nil while it is there.
func (t *State) Offline() error {
	if t.Online() {
		return nil
	}
	return fmt.Errorf("target %s: %w: its marker is gone (card removed or unmounted?); nothing more is written until it is back", t.root, outcome.ErrTargetOffline)
}

// adoptingName is the file that says an adoption (`romsyncd init`) is in
// progress: the files on the card identical to the library's are being
// recorded. A pass that finds it finishes the adoption.
const adoptingName = "adopting"

func adoptingNote(profile string) []byte {
	data, _ := json.Marshal(struct {
		Profile string `json:"profile"`
	}{profile})
	return data
}

func (t *State) noteAdopting(profile string) error {
	if err := os.MkdirAll(t.meta, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", t.meta, err)
	}
	if err := WriteFileAtomic(filepath.Join(t.meta, adoptingName), adoptingNote(profile), true); err != nil {
		return fmt.Errorf("record adoption: %w", err)
	}
	t.adopting = true
	return nil
}

// Adopting reports whether an adoption of this card is unfinished (one
// begun by this open, or one a killed run left).
func (t *State) Adopting() bool { return t.adopting }

// DoneAdopting records that every file identical to the library's is
// recorded as installed.
func (t *State) DoneAdopting() error {
	if !t.adopting {
		return nil
	}
	if err := os.Remove(filepath.Join(t.meta, adoptingName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("record adoption: %w", err)
	}
	t.adopting = false
	return FsyncDir(t.meta)
}

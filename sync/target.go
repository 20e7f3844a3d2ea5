package sync

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
	stdsync "sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/targetfs"
)

const (
	metaDirName = ".romsyncd"
	markerName  = "marker"
	lockName    = "lock"
	foldersDir  = "folders"
	tempPrefix  = ".romsyncd-"
	tempSuffix  = ".tmp"
)

// Conditions that stop a whole profile; callers check them with errors.Is.
var (
	// ErrMarkerMissing: the target exists but holds no .romsyncd marker.
	ErrMarkerMissing = errors.New("no .romsyncd marker")
	// ErrTargetOffline: the target is absent, or lies in an empty mount point.
	ErrTargetOffline = errors.New("target offline")
	// ErrTargetBusy: another romsyncd process holds the target.
	ErrTargetBusy = errors.New("target in use by another romsyncd")
	// ErrSourceOffline: the library is missing, unreadable or empty while
	// the target holds installed files.
	ErrSourceOffline = errors.New("source offline")
	// ErrTargetFull: the target has no room for the next file.
	ErrTargetFull = errors.New("target full")
	// ErrTooManyDeletes: the pass would delete more than max_delete allows.
	ErrTooManyDeletes = errors.New("too many deletions")
	// ErrWrongProfile: the marker names another profile.
	ErrWrongProfile = errors.New("target belongs to another profile")
)

// Marker is the content of <target>/.romsyncd/marker.
type Marker struct {
	Profile string    `json:"profile"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// Target is an opened, locked target root.
type Target struct {
	Root    string
	meta    string
	Marker  Marker
	Created bool // this open created the target (first pass)
	lock    *os.File

	mu      stdsync.Mutex
	folders map[string]*Folder

	jmu      stdsync.Mutex   // the in-flight journal
	inflight map[string]bool // folder -> created by romsyncd
}

// OpenOptions says how a target may be opened.
type OpenOptions struct {
	Profile string
	// MayCreate allows creating the target and its marker when the target
	// folder does not exist (the profile's very first pass).
	MayCreate bool
	// Adopt writes a marker into an existing folder (`romsyncd init`).
	Adopt bool
	// Unmounted reports whether path lies under a mount point that should
	// be mounted but is not (an /etc/fstab entry); nil means never.
	Unmounted func(path string) (mountPoint string, unmounted bool, err error)
	// DryRun opens without creating or locking anything.
	DryRun bool
}

// OpenTarget checks the safety marker of root, creating it only as opts
// allow, takes the target's lock and loads its manifests.
func OpenTarget(root string, opts OpenOptions) (*Target, error) {
	t := &Target{Root: root, meta: filepath.Join(root, metaDirName)}
	st, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !opts.MayCreate && !opts.Adopt {
			return nil, fmt.Errorf("target %s does not exist: %w; insert or mount the card, or run `romsyncd init --profile %s` to create it", root, ErrTargetOffline, opts.Profile)
		}
		if err := checkCreatable(root, opts.Unmounted); err != nil {
			return nil, err
		}
		if opts.DryRun {
			t.Created = true
			t.folders = map[string]*Folder{}
			return t, nil
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("create target %s: %w", root, err)
		}
		if err := t.writeMarker(opts.Profile); err != nil {
			return nil, err
		}
		t.Created = true
	case err != nil:
		return nil, fmt.Errorf("target %s: %w: %v", root, ErrTargetOffline, err)
	case !st.IsDir():
		return nil, fmt.Errorf("target %s is not a folder", root)
	default:
		if err := checkMeta(t.meta); err != nil {
			return nil, err
		}
		m, err := readMarker(t.meta)
		switch {
		case errors.Is(err, fs.ErrNotExist) && opts.MayCreate && !opts.DryRun && onlyLeftovers(root):
			// The very first pass was killed between creating the target
			// and writing its marker: finish the job.
			if err := t.writeMarker(opts.Profile); err != nil {
				return nil, err
			}
			t.Created = true
		case errors.Is(err, fs.ErrNotExist) && opts.Adopt && !opts.DryRun:
			if err := t.writeMarker(opts.Profile); err != nil {
				return nil, err
			}
		case errors.Is(err, fs.ErrNotExist) && opts.Adopt:
			t.Marker = Marker{Profile: opts.Profile}
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("target %s has %w: if the card is mounted there and this is the right folder, run `romsyncd init --profile %s`; otherwise mount the card", root, ErrMarkerMissing, opts.Profile)
		case err != nil:
			return nil, err
		default:
			t.Marker = m
		}
		if t.Marker.Profile != opts.Profile {
			return nil, fmt.Errorf("target %s: %w %q (marker %s); use that profile, or remove the marker if the card was reassigned", root, ErrWrongProfile, t.Marker.Profile, filepath.Join(t.meta, markerName))
		}
	}
	if opts.DryRun {
		f, err := loadManifests(t.meta)
		if err != nil {
			return nil, err
		}
		t.folders = f
		return t, nil
	}
	if err := t.takeLock(); err != nil {
		return nil, err
	}
	removeManifestTemps(t.meta)
	f, err := loadManifests(t.meta)
	if err != nil {
		t.Close()
		return nil, err
	}
	t.folders = f
	if err := t.recoverInflight(); err != nil {
		t.Close()
		return nil, fmt.Errorf("target %s: recover from an interrupted run: %w", root, err)
	}
	return t, nil
}

// checkCreatable refuses to create a target inside what looks like the
// empty mount point of an absent card.
func checkCreatable(root string, unmounted func(string) (string, bool, error)) error {
	if unmounted != nil {
		mp, down, err := unmounted(root)
		if err != nil {
			return fmt.Errorf("target %s: check mounts: %w", root, err)
		}
		if down {
			return fmt.Errorf("target %s lies under %s, which /etc/fstab lists but is not mounted: %w; mount the card first", root, mp, ErrTargetOffline)
		}
	}
	// Never create a card's mount point, nor anything on the disk that holds
	// the mount points (decided from the mount table: targetfs).
	if err := targetfs.CheckCreatable(root); err != nil {
		return fmt.Errorf("target %s: %w: %w; insert or mount the card first (a folder that is no card: create it yourself, then run `romsyncd init`)", root, ErrTargetOffline, err)
	}
	return nil
}

// checkMeta refuses a .romsyncd (or its folders/) that is a link: romsyncd
// never writes through links, and a card formatted ext4 can hold one.
func checkMeta(meta string) error {
	for _, p := range []string{meta, filepath.Join(meta, foldersDir)} {
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("target: %s: %w", p, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("target: %s is not a folder (a link or a file); romsyncd never writes through links: remove it", p)
		}
	}
	return nil
}

// onlyLeftovers reports whether root holds nothing but a .romsyncd folder
// with nothing but temp files in it: what a first pass killed before its
// marker was in place leaves.
func onlyLeftovers(root string) bool {
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) != 1 || ents[0].Name() != metaDirName || !ents[0].IsDir() {
		return false
	}
	inner, err := os.ReadDir(filepath.Join(root, metaDirName))
	if err != nil {
		return false
	}
	for _, e := range inner {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			return false
		}
	}
	return true
}

func readMarker(meta string) (Marker, error) {
	p := filepath.Join(meta, markerName)
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

func (t *Target) writeMarker(profile string) error {
	if err := os.MkdirAll(t.meta, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", t.meta, err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	t.Marker = Marker{Profile: profile, ID: hex.EncodeToString(id[:]), Created: time.Now().UTC().Truncate(time.Second)}
	data, _ := json.MarshalIndent(t.Marker, "", "  ")
	if err := writeFileAtomic(filepath.Join(t.meta, markerName), append(data, '\n'), true); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	return fsyncDir(t.Root)
}

func (t *Target) takeLock() error {
	p := filepath.Join(t.meta, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		// A card that turned read-only (or went away) is offline for the
		// profile, not a failure of its own.
		return classifyTargetErr(t.Root, fmt.Errorf("lock %s: %w", p, err))
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return fmt.Errorf("target %s: %w (lock %s); stop the other run, or use `romsyncd status`", t.Root, ErrTargetBusy, p)
	}
	if err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.ENOLCK) {
		f.Close()
		return fmt.Errorf("lock %s: %w", p, err)
	}
	t.lock = f
	return nil
}

// Close releases the target's lock.
func (t *Target) Close() error {
	if t.lock == nil {
		return nil
	}
	err := t.lock.Close()
	t.lock = nil
	return err
}

// errBadMarker: the marker file was read but holds no romsyncd marker.
var errBadMarker = errors.New("not a romsyncd marker")

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
func (t *Target) Online() bool {
	wait := markerReread
	for try := 0; ; try++ {
		m, err := readMarker(t.meta)
		if err == nil {
			return m.ID == t.Marker.ID
		}
		if !errors.Is(err, errBadMarker) || try == markerRereads {
			return false
		}
		time.Sleep(wait)
		wait *= 2
	}
}

// offline returns an ErrTargetOffline error when the target's marker is
// gone or unreadable (the card was pulled or unmounted: its mount point is
// an empty folder that must never be written), nil while it is there.
func (t *Target) offline() error {
	if t.Online() {
		return nil
	}
	return fmt.Errorf("target %s: %w: its marker is gone (card removed or unmounted?); nothing more is written until it is back", t.Root, ErrTargetOffline)
}

// folder returns the manifest of target folder dir, creating an empty one.
func (t *Target) folder(dir string) *Folder {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.folders[dir]
	if f == nil {
		f = &Folder{Dir: dir, Files: map[string]*Entry{}}
		t.folders[dir] = f
	}
	return f
}

// folderDirs lists the target folders that have a manifest.
func (t *Target) folderDirs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.folders))
	for d, f := range t.folders {
		if len(f.Files) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// installedCount is the number of files the manifests list.
func (t *Target) installedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, f := range t.folders {
		n += len(f.Files)
	}
	return n
}

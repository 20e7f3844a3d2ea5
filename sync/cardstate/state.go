// Package cardstate owns what romsyncd keeps on a target: the marker that
// says which profile the card belongs to, the lock that keeps one romsyncd
// writing it, the manifest of each target folder (what romsyncd installed
// there) and the in-flight journal. State is the only code that takes the
// manifests' lock: the engine asks it to read, change and save entries, so
// one writer per manifest is a fact of the code's shape.
package cardstate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"

	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

// State is an opened, locked target root and what romsyncd keeps on it.
type State struct {
	root    string
	meta    string
	marker  Marker
	created bool // this open created the target (first pass)
	lock    *os.File

	mu      stdsync.Mutex
	folders map[string]*Folder
	sigs    map[string]fileSig // manifest file name -> the version in memory

	jmu      stdsync.Mutex   // the in-flight journal
	inflight map[string]bool // folder -> created by romsyncd

	copies   copies   // the host's copy of the manifests
	healed   []Healed // damaged manifests found by Open
	adopting bool     // an adoption is unfinished
	released bool     // the lock is let go between passes
}

// OpenOptions says how a target may be opened.
type OpenOptions struct {
	Profile string
	// MayCreate allows creating the target and its marker when the target
	// folder does not exist (the profile's very first pass).
	MayCreate bool
	// Resume: this host began creating the target in an earlier run (its
	// state says so), so an empty folder there is that run's, killed before
	// its marker was in place; it is finished like a missing one.
	Resume bool
	// Adopt writes a marker into an existing folder (`romsyncd init`).
	Adopt bool
	// Unmounted reports whether path lies under a mount point that should
	// be mounted but is not (an /etc/fstab entry); nil means never.
	Unmounted func(path string) (mountPoint string, unmounted bool, err error)
	// DryRun opens without creating or locking anything.
	DryRun bool
	// Copies is a folder on the host where a copy of every card's
	// manifests is kept (under the card's marker id), to heal a manifest
	// the card damaged; empty keeps none.
	Copies string
}

// Open checks the safety marker of root, creating it only as opts allow,
// takes the target's lock, loads its manifests and cleans up after a run
// that was killed.
func Open(root string, opts OpenOptions) (*State, error) {
	t := &State{root: root, meta: filepath.Join(root, MetaDirName), sigs: map[string]fileSig{}}
	st, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !opts.MayCreate && !opts.Adopt {
			return nil, fmt.Errorf("target %s does not exist: %w; insert or mount the card, or run `romsyncd init --profile %s` to create it", root, outcome.ErrTargetOffline, opts.Profile)
		}
		if err := checkCreatable(root, opts.Unmounted); err != nil {
			return nil, err
		}
		if opts.DryRun {
			t.created = true
			t.folders = map[string]*Folder{}
			return t, nil
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("create target %s: %w", root, err)
		}
		if err := t.writeMarker(opts.Profile, false); err != nil {
			return nil, err
		}
		t.created = true
	case err != nil:
		return nil, fmt.Errorf("target %s: %w: %v", root, outcome.ErrTargetOffline, err)
	case !st.IsDir():
		return nil, fmt.Errorf("target %s is not a folder", root)
	default:
		if err := t.openMarker(opts); err != nil {
			return nil, err
		}
	}
	if opts.Copies != "" && t.marker.ID != "" {
		t.copies = copies{dir: filepath.Join(opts.Copies, t.marker.ID)}
	}
	if opts.DryRun {
		return t, t.loadManifests(true)
	}
	if err := t.takeLock(); err != nil {
		return nil, err
	}
	if err := t.checkAdopting(opts.Adopt, opts.Profile); err != nil {
		t.Close()
		return nil, err
	}
	removeMetaTemps(t.meta)
	if err := t.loadManifests(false); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.recoverInflight(); err != nil {
		t.Close()
		return nil, fmt.Errorf("target %s: recover from an interrupted run: %w", root, err)
	}
	return t, nil
}

// loadManifests reads the card's manifests and heals the damaged ones.
func (t *State) loadManifests(dryRun bool) error {
	set, err := loadManifests(t.meta, nil)
	if err != nil {
		return err
	}
	t.folders, t.sigs = set.folders, set.sigs
	t.healed, err = t.heal(set.damaged, dryRun)
	if err != nil || dryRun {
		return err
	}
	return t.convert(set)
}

// convert writes the version 1 manifests read as version 2 files (each
// removes its old file once in place) and removes the old files a
// conversion cut short left beside their new one.
func (t *State) convert(set manifestSet) error {
	for _, dir := range set.legacy {
		if err := t.Save(dir, true); err != nil {
			return fmt.Errorf("convert manifest: %w", err)
		}
	}
	for _, name := range set.stale {
		p := filepath.Join(t.meta, foldersDir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove old manifest %s: %w", p, err)
		}
	}
	return nil
}

// Release lets go of the card between passes: the lock's descriptor is
// closed, so nothing of romsyncd keeps the card busy and the desktop can
// unmount it. The manifests stay in memory; Reacquire takes the card back.
func (t *State) Release() error {
	t.released = true
	return t.Close()
}

// Released reports whether the card was released.
func (t *State) Released() bool { return t.released }

// Reacquire takes a released card back: its marker must still be the same
// card's, its lock is taken again, and what another romsyncd changed
// meanwhile is read again (only the manifests whose file changed), after
// cleaning up what a killed one left.
func (t *State) Reacquire() error {
	m, err := readMarker(t.meta)
	if err != nil || m.ID != t.marker.ID {
		return fmt.Errorf("target %s: %w: its marker is gone or is another card's (card removed or replaced?)", t.root, outcome.ErrTargetOffline)
	}
	if err := t.takeLock(); err != nil {
		return err
	}
	t.released = false
	removeMetaTemps(t.meta)
	if err := t.refresh(); err != nil {
		t.Close()
		return err
	}
	if err := t.checkAdopting(false, t.marker.Profile); err != nil {
		t.Close()
		return err
	}
	if err := t.recoverInflight(); err != nil {
		t.Close()
		return fmt.Errorf("target %s: recover from an interrupted run: %w", t.root, err)
	}
	return nil
}

// refresh reads again the manifests another process changed.
func (t *State) refresh() error {
	set, err := loadManifests(t.meta, t.sigs)
	if err != nil {
		return err
	}
	t.mu.Lock()
	for dir := range t.folders {
		name := manifestName(dir)
		if _, had := t.sigs[name]; had {
			if _, still := set.sigs[name]; !still {
				delete(t.folders, dir) // removed by another process
			}
		}
	}
	for dir, f := range set.folders {
		t.folders[dir] = f
	}
	t.sigs = set.sigs
	t.mu.Unlock()
	healed, err := t.heal(set.damaged, false)
	t.healed = healed
	if err != nil {
		return err
	}
	return t.convert(set)
}

// checkAdopting notes an adoption this open begins (adopt), or finds one
// a killed run left unfinished.
func (t *State) checkAdopting(adopt bool, profile string) error {
	if t.adopting || t.created {
		return nil
	}
	if adopt {
		return t.noteAdopting(profile)
	}
	_, err := os.Stat(filepath.Join(t.meta, adoptingName))
	switch {
	case err == nil:
		t.adopting = true
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("target %s: %w", t.root, err)
	}
	return nil
}

// Healed lists the damaged manifests Open found and what it did.
func (t *State) Healed() []Healed { return t.healed }

// Root is the target root.
func (t *State) Root() string { return t.root }

// MetaDir is the target's .romsyncd folder (scratch space for probes).
func (t *State) MetaDir() string { return t.meta }

// Marker is the target's marker.
func (t *State) Marker() Marker { return t.marker }

// Created reports whether this open created the target.
func (t *State) Created() bool { return t.created }

// ClearCreated forgets that this open created the target (it is reported
// once, by the first pass).
func (t *State) ClearCreated() { t.created = false }

// checkCreatable refuses to create a target inside what looks like the
// empty mount point of an absent card.
func checkCreatable(root string, unmounted func(string) (string, bool, error)) error {
	if unmounted != nil {
		mp, down, err := unmounted(root)
		if err != nil {
			return fmt.Errorf("target %s: check mounts: %w", root, err)
		}
		if down {
			return fmt.Errorf("target %s lies under %s, which /etc/fstab lists but is not mounted: %w; mount the card first", root, mp, outcome.ErrTargetOffline)
		}
	}
	// Never create a card's mount point, nor anything on the disk that holds
	// the mount points (decided from the mount table: targetfs).
	if err := targetfs.CheckCreatable(root); err != nil {
		return fmt.Errorf("target %s: %w: %w; insert or mount the card first (a folder that is no card: create it yourself, then run `romsyncd init`)", root, outcome.ErrTargetOffline, err)
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

func (t *State) takeLock() error {
	p := filepath.Join(t.meta, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		// A card that turned read-only (or went away) is offline for the
		// profile, not a failure of its own.
		return outcome.OfTarget(t.root, fmt.Errorf("lock %s: %w", p, err))
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return fmt.Errorf("target %s: %w (lock %s); stop the other run, or use `romsyncd status`", t.root, outcome.ErrTargetBusy, p)
	}
	if err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.ENOLCK) {
		f.Close()
		return fmt.Errorf("lock %s: %w", p, err)
	}
	t.lock = f
	return nil
}

// Close releases the target's lock.
func (t *State) Close() error {
	if t.lock == nil {
		return nil
	}
	err := t.lock.Close()
	t.lock = nil
	return err
}

// removeMetaTemps removes the temp files of manifest, marker and journal
// writes, and probe files, that a killed run left. Only the lock holder
// may: a dry run (no lock) could delete the temp file of a running
// daemon's write.
func removeMetaTemps(metaDir string) {
	for _, dir := range []string{metaDir, filepath.Join(metaDir, foldersDir)} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), TempPrefix) && e.Type().IsRegular() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

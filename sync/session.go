package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
	"golang.org/x/sys/unix"
)

// Names maps library file and folder names to names the target accepts.
type Names interface {
	// Map returns the target name for a library name, or an error saying
	// why the target cannot hold it.
	Map(name string) (string, error)
	// Key returns the collision key of a target name: two names with the
	// same key are the same file on the target.
	Key(name string) string
}

type identityNames struct{}

func (identityNames) Map(name string) (string, error) { return name, nil }
func (identityNames) Key(name string) string          { return name }

// StreamProgress is a Progress that also wants the bytes of each file as
// they are written to the card, not only when the file is done.
type StreamProgress interface {
	Progress
	Copying(bytes int64)
}

// Progress receives the size of the work planned and the work done.
type Progress interface {
	Planned(files int, bytes int64)
	Done(files int, bytes int64)
}

// DeleteLimit decides whether a pass may delete n of the installed files.
type DeleteLimit interface {
	Allows(n, installed int) bool
	String() string
}

// Options configure a profile's passes.
type Options struct {
	Profile string
	Source  string // library root (absolute)
	Target  string // target root (absolute)
	Delete  bool   // mirror deletions (mode: mirror)
	Include []string
	Exclude []string
	Workers int
	Verify  bool
	// MaxDelete caps the deletions of a pass; nil means no cap.
	MaxDelete DeleteLimit
	// MapPlatform maps a top-level library folder to its target folder
	// (a device layout); nil keeps names. ok=false skips the folder.
	MapPlatform func(name string) (folder string, ok bool, reason string)
	// Names maps names for the target; nil keeps them as they are.
	Names Names
	// MaxFileSize is the largest file the target holds (0: no limit).
	MaxFileSize int64
	// PerFileSync fsyncs each file instead of one syncfs per batch (FUSE
	// targets, where syncfs does not reach the driver).
	PerFileSync bool
	// ModifyWindow is how far a target mtime may differ from the one
	// recorded at install and still count as the same (the target's
	// timestamp granularity).
	ModifyWindow time.Duration
	// VolumeSync: one fsync of any file makes the whole target durable
	// (exfat-fuse flushes its volume on every fsync), so a batch needs one.
	// It takes precedence over PerFileSync.
	VolumeSync bool
	// Parallel is how many files of one folder's batch are staged and
	// verified at once (0 or 1: one by one). A FUSE driver answers one
	// request at a time, but a card copy is a chain of short round trips
	// (create, write, set times, close): a few files in flight keep the
	// driver busy (FUSE targets: 4). The folder still has one owner: these
	// are its helpers, each on its own temp file; the renames stay in
	// order on the owner's goroutine.
	Parallel int
	// NoPermissions: the target keeps no Unix permissions (the FAT
	// family): temp files are not chmodded (one round trip less per file
	// on FUSE).
	NoPermissions bool
	// BlockDevice is the block device under a fuseblk target (exfat-fuse,
	// ntfs-3g). Its driver reads the device through the kernel's block
	// device cache, so the verify's read-back would be served from memory
	// without it: after each batch's flush romsyncd drops that cache, so
	// the read-back comes from the card. When the device cannot be opened
	// (not root, not in group disk) the read-back would prove nothing
	// beyond the hash taken while writing, and is skipped.
	BlockDevice string
	// Share, when set, is shared by the passes of other sessions over the
	// same library that run at the same time (the cards of a cards
	// profile): each library file is read from the disk once (see Share).
	Share *Share
	// DSTTolerance accepts a target mtime shifted by exactly one hour.
	DSTTolerance bool
	// Probe learns, once the target is opened, what its filesystem needs:
	// it may set Names, MaxFileSize, PerFileSync and ModifyWindow. root is
	// the target root, scratch a folder on it for probe files.
	Probe func(ctx context.Context, root, scratch string, o *Options) error
	// StateDir holds per-profile state (whether the first pass happened);
	// empty: no state kept, the target may be created whenever it is missing.
	StateDir string
	// Unmounted reports a path under an fstab mount point that is not mounted.
	Unmounted func(path string) (string, bool, error)
	DryRun    bool
	Progress  Progress
	Logger    *slog.Logger
	// Unzip reports whether a .zip holding exactly one file, in the given
	// top-level library folder, is installed as that file (the device
	// cannot read zips; never for arcade romsets). nil: never.
	Unzip func(platformFolder string) bool
	// GameFolders reports whether the direct sub-folders of the given
	// top-level library folder are one game each, copied whole or not at
	// all (DOS, ScummVM). nil: none.
	GameFolders func(platformFolder string) bool
	// DiscStyle is how the device wants a game of several discs (the
	// layout's); DiscsAsIs mirrors discs as they are.
	DiscStyle DiscStyle
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Session is a profile with its target opened and locked. The daemon keeps
// one open between passes; `romsyncd sync` opens one for a single pass.
// Passes of one Session must not overlap unless their folders are disjoint
// (the reconciler guarantees that).
type Session struct {
	opts   Options
	target *cardstate.State
	names  Names
	flt    filter
	log    *slog.Logger
	// dryMoved are the installed files (target paths) a dry run's plan
	// moves: their deletion is not planned.
	dryMoved map[string]bool
	zips     zipCache // the one-ROM zips' central directories (zipsrc.go)
	// noReadBack: the verify reads nothing back (see Options.BlockDevice).
	noReadBack bool
	// sameHashes: library files read to compare same-named ones (samename.go).
	sameHashes sameHashes
}

// Open checks the source and the target (marker, first-pass rule) and
// locks the target.
func Open(ctx context.Context, opts Options) (*Session, error) {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	s := &Session{opts: opts, names: opts.Names, flt: filter{include: opts.Include, exclude: opts.Exclude}, log: opts.logger()}
	if s.names == nil {
		s.names = identityNames{}
	}
	if err := checkSource(opts.Source); err != nil {
		return nil, err
	}
	first, err := s.firstPass()
	if err != nil {
		return nil, err
	}
	resume, err := s.noteCreating(first)
	if err != nil {
		return nil, err
	}
	t, err := cardstate.Open(opts.Target, cardstate.OpenOptions{Profile: opts.Profile, MayCreate: first, Resume: resume,
		Unmounted: opts.Unmounted, DryRun: opts.DryRun, Copies: s.copiesDir()})
	if err != nil {
		return nil, err
	}
	s.target = t
	if err := s.probe(ctx); err != nil {
		t.Close()
		return nil, err
	}
	if err := s.healed(ctx); err != nil {
		t.Close()
		return nil, err
	}
	if t.Created() && !opts.DryRun {
		s.log.Info("created target", "profile", opts.Profile, "target", opts.Target)
	}
	if err := s.rememberTarget(); err != nil {
		t.Close()
		return nil, err
	}
	return s, nil
}

// copiesDir is where the host keeps a copy of the cards' manifests.
func (s *Session) copiesDir() string {
	if s.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(s.opts.StateDir, "manifests")
}

// healed logs the manifests Open found damaged, one line each. Where no
// copy on this host had the manifest, the files on the card identical to
// the library's are adopted again, so they stay romsyncd's.
func (s *Session) healed(ctx context.Context) error {
	adopting := s.target.Adopting()
	if adopting {
		s.log.Warn("an adoption (romsyncd init) of this card did not finish: finishing it", "profile", s.opts.Profile)
	}
	if !s.logHealed() && !adopting || s.opts.DryRun {
		return nil
	}
	if err := s.adopt(ctx, &Report{}); err != nil {
		return err
	}
	return s.target.DoneAdopting()
}

// logHealed logs the damaged manifests and reports whether one had no copy.
func (s *Session) logHealed() (adopt bool) {
	for _, h := range s.target.Healed() {
		if h.FromCopy {
			s.log.Warn("manifest damaged on the card, restored from this host's copy", "profile", s.opts.Profile,
				"folder", h.Dir, "file", h.File, "damage", h.Damage)
			continue
		}
		s.log.Warn("manifest damaged on the card and not on this host: files identical to the library's are adopted again",
			"profile", s.opts.Profile, "file", h.File, "damage", h.Damage)
		adopt = true
	}
	return adopt
}

// probe lets Options.Probe adapt the options to the target filesystem.
func (s *Session) probe(ctx context.Context) error {
	if s.opts.Probe == nil || (s.opts.DryRun && s.target.Created()) {
		return nil
	}
	if err := s.opts.Probe(ctx, s.target.Root(), s.target.MetaDir(), &s.opts); err != nil {
		return err
	}
	if s.opts.Names != nil {
		s.names = s.opts.Names
	}
	s.noReadBack = false
	if dev := s.opts.BlockDevice; dev != "" && s.opts.Verify {
		fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			s.noReadBack = true
			s.log.Info("verify: the card's device cannot be read, so files are checked by the hash taken while writing",
				"profile", s.opts.Profile, "device", dev, "err", errText(err))
		} else {
			unix.Close(fd)
		}
	}
	return nil
}

// dropDeviceCache drops the cached pages of the block device under a
// fuseblk target, so that the verify's read-back comes from the card (see
// Options.BlockDevice); the batch's flush made every page clean, so
// nothing is lost. It is advice: errors are ignored.
func (s *Session) dropDeviceCache() {
	if s.opts.BlockDevice == "" || s.noReadBack {
		return
	}
	fd, err := unix.Open(s.opts.BlockDevice, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	unix.Close(fd)
}

// Release lets go of the card until the next pass (see
// cardstate.State.Release): a daemon holds no descriptor on a card between
// passes, so the card can be unmounted whenever no pass is writing it.
func (s *Session) Release() error { return s.target.Release() }

// Close releases the target.
func (s *Session) Close() error { return s.target.Close() }

// Target returns the opened target.
func (s *Session) Target() *cardstate.State { return s.target }

func checkSource(src string) error {
	_, err := sourceIsEmpty(src)
	return err
}

// sourceIsEmpty checks that the library root is a readable folder and
// reports whether it holds no entry at all (an unmounted NAS's mount point).
func sourceIsEmpty(src string) (bool, error) {
	st, err := os.Stat(src)
	if err != nil {
		return false, fmt.Errorf("source %s: %w: %v; is the library mounted?", src, outcome.ErrSourceOffline, errText(err))
	}
	if !st.IsDir() {
		return false, fmt.Errorf("source %s: %w: not a folder", src, outcome.ErrSourceOffline)
	}
	d, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("source %s: %w: %v", src, outcome.ErrSourceOffline, errText(err))
	}
	defer d.Close()
	ents, err := d.ReadDir(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("source %s: %w: %v", src, outcome.ErrSourceOffline, errText(err))
	}
	return len(ents) == 0, nil
}

// statePath is where the profile records that it has had its first pass.
func (s *Session) statePath() string {
	return StatePath(s.opts.StateDir, s.opts.Profile)
}

// firstPass reports whether the profile never had a target: only then may
// a missing target be created.
func (s *Session) firstPass() (bool, error) {
	p := s.statePath()
	if p == "" {
		return true, nil
	}
	_, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("state %s: %w", p, err)
	}
	return false, nil
}

// creatingPath is where the host notes that a first pass is creating the
// target, before it creates it.
func (s *Session) creatingPath() string {
	p := s.statePath()
	if p == "" {
		return ""
	}
	return strings.TrimSuffix(p, ".target") + ".creating"
}

// noteCreating records, before a first pass creates a missing target, that
// this host is creating it; it reports whether an earlier run of this host
// began creating this very target (then an empty folder there is that
// run's, killed before the marker was in place: the pass finishes it).
func (s *Session) noteCreating(first bool) (resume bool, err error) {
	p := s.creatingPath()
	if !first || p == "" || s.opts.DryRun {
		return false, nil
	}
	if data, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(data)) == s.opts.Target {
		return true, nil
	}
	if _, err := os.Lstat(s.opts.Target); err == nil {
		return false, nil // exists: created by somebody else
	}
	if targetfs.CheckCreatable(s.opts.Target) != nil {
		return false, nil // not to be created (an absent card): Open says why
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return false, fmt.Errorf("state %s: %w", p, err)
	}
	if err := cardstate.WriteFileAtomic(p, []byte(s.opts.Target+"\n"), true); err != nil {
		return false, fmt.Errorf("state: %w", err)
	}
	return false, nil
}

func (s *Session) rememberTarget() error {
	p := s.statePath()
	if p == "" || s.opts.DryRun {
		return nil
	}
	defer os.Remove(s.creatingPath()) // the target is created and marked
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("state %s: %w", p, err)
	}
	data := fmt.Sprintf("%s\n%s\n", s.opts.Target, s.target.Marker().ID)
	if err := cardstate.WriteFileAtomic(p, []byte(data), true); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

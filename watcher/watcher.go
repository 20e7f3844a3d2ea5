// Package watcher turns filesystem events into a debounced set of dirty source folders.
//
// A Watcher watches one source root (a profile's ROM library) and reports
// which folders under it may have changed. It never says which file changed:
// the caller lists a reported folder from disk, so an event that was lost or
// coalesced is repaired by that listing, and a lost event queue (overflow) or
// a root that went away and came back is reported as Batch{All: true}.
//
// On Linux inotify has no recursive watch, so the Watcher adds one watch per
// folder and crawls every folder that is created or moved in. Folders it
// cannot watch (the fs.inotify.max_user_watches limit) are polled, and so is
// every folder of a root on a network or FUSE filesystem, whose changes made
// elsewhere inotify never sees.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode selects how changes are detected.
type Mode int

const (
	// ModeAuto polls a root on a network or FUSE filesystem (see
	// IsNetworkFS) and uses inotify otherwise.
	ModeAuto Mode = iota
	// ModeNotify uses inotify, polling only the folders it cannot watch.
	ModeNotify
	// ModePoll compares cheap per-folder snapshots every PollInterval.
	ModePoll
)

var modeNames = [...]string{ModeAuto: "auto", ModeNotify: "notify", ModePoll: "poll"}

// String returns the configuration name of m: "auto", "notify" or "poll".
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode parses a configuration value: "auto", "notify" or "poll".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("watch mode %q: want auto, notify or poll", s)
}

// Options configure a Watcher. The config layer supplies the defaults; a zero
// duration here means zero.
type Options struct {
	// Root is the source root; it must exist when New is called.
	Root string
	// Debounce is the quiet period per folder: a folder is emitted once no
	// event has touched it for this long. Zero emits a folder as soon as the
	// events already queued have been read.
	Debounce time.Duration
	// MaxDelay caps the time from a folder's first un-emitted event to its
	// emission, so a folder that never stops changing is still emitted.
	MaxDelay time.Duration
	// Mode selects inotify, polling, or a choice by filesystem type.
	Mode Mode
	// PollInterval is how often polled folders are compared with their
	// snapshot, and how often the root is checked for having gone away. It
	// must be positive.
	PollInterval time.Duration
	// Skip reports names that are never watched nor reported (".git",
	// "._*"). rel is slash-separated and relative to Root; isDir says whether
	// it is a folder. Skip may be nil.
	Skip func(rel string, isDir bool) bool
	// Logger receives the Watcher's logs; nil discards them.
	Logger *slog.Logger
}

// Batch is one emission: folders that may have changed.
type Batch struct {
	// Dirs are source folders relative to Root ("." for Root itself),
	// slash-separated, sorted and unique.
	Dirs []string
	// All says that everything under Root may have changed (events were lost,
	// or the root came back after it had gone away); the caller does a full
	// pass. Dirs is empty when All is set.
	All bool
}

// Stats describes a running Watcher, for metrics and status.
type Stats struct {
	Watches   int    // folders with an inotify watch
	Polled    int    // folders compared with a snapshot every PollInterval
	Mode      string // "notify" or "poll" once Run has chosen; the configured mode before
	Overflows int    // inotify queue overflows since Run started
}

// Watcher reports dirty folders under one source root. Create it with New and
// call Run once.
type Watcher struct {
	opts   Options
	root   string // absolute and clean
	prefix string // root with a trailing separator
	log    *slog.Logger
	ready  chan struct{}
	ran    atomic.Bool

	mu    sync.Mutex // guards stats
	stats Stats
}

// New checks opts and returns a Watcher for opts.Root. It starts nothing:
// Run does.
func New(opts Options) (*Watcher, error) {
	if opts.Root == "" {
		return nil, errors.New("watch: no source root given")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", opts.Root, err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch %s: not a directory", root)
	}
	switch {
	case opts.Debounce < 0:
		return nil, fmt.Errorf("watch %s: debounce %v is negative", root, opts.Debounce)
	case opts.MaxDelay < 0:
		return nil, fmt.Errorf("watch %s: max delay %v is negative", root, opts.MaxDelay)
	case opts.PollInterval <= 0:
		return nil, fmt.Errorf("watch %s: poll interval %v must be positive", root, opts.PollInterval)
	case opts.Mode < ModeAuto || opts.Mode > ModePoll:
		return nil, fmt.Errorf("watch %s: unknown mode %v", root, opts.Mode)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Root = root
	prefix := root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return &Watcher{
		opts:   opts,
		root:   root,
		prefix: prefix,
		log:    log.With("root", root),
		ready:  make(chan struct{}),
		stats:  Stats{Mode: opts.Mode.String()},
	}, nil
}

// Ready is closed once Run has set the initial watches (or taken the initial
// snapshots), so that a full reconcile started afterwards misses nothing. It
// is never closed if Run fails before that.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Stats returns the current counters; it is safe for concurrent use.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *Watcher) setStats(f func(*Stats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// Run watches until ctx is done, then releases every watch and returns nil.
// emit is called from Run's goroutine, one Batch at a time; while it runs no
// event is read, so it should hand the batch over rather than do the work.
// Run returns an error only if it cannot watch at all (the root cannot be
// listed, or Run was called twice). It starts no goroutine that outlives it.
func (w *Watcher) Run(ctx context.Context, emit func(Batch)) error {
	if emit == nil {
		return fmt.Errorf("watch %s: nil emit function", w.root)
	}
	if !w.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("watch %s: Run called more than once", w.root)
	}
	r := newRun(w, emit)
	mode := w.chooseMode()
	if mode == ModeNotify {
		if err := r.openNotify(); err != nil {
			w.log.Warn("cannot use inotify; polling every folder", "err", err,
				"poll_interval", w.opts.PollInterval)
			mode = ModePoll
		}
	}
	defer r.close()
	w.setStats(func(s *Stats) { s.Mode = mode.String() })
	if err := r.start(time.Now()); err != nil {
		return err
	}
	r.publish()
	close(w.ready)
	return r.loop(ctx)
}

// chooseMode resolves ModeAuto by the root's filesystem type.
func (w *Watcher) chooseMode() Mode {
	if w.opts.Mode != ModeAuto {
		return w.opts.Mode
	}
	network, fsName, err := IsNetworkFS(w.root)
	if err != nil {
		w.log.Warn("cannot tell the root's filesystem type; using inotify", "err", err)
		return ModeNotify
	}
	if network {
		w.log.Info("root is on a network or FUSE filesystem; polling it",
			"fs", fsName, "poll_interval", w.opts.PollInterval)
		return ModePoll
	}
	w.log.Debug("root is on a local filesystem; using inotify", "fs", fsName)
	return ModeNotify
}

// relPath turns an absolute path under the root into a slash-separated path
// relative to it; ok is false for paths outside the root.
func (w *Watcher) relPath(name string) (rel string, ok bool) {
	if name == w.root {
		return ".", true
	}
	if !strings.HasPrefix(name, w.prefix) {
		return "", false
	}
	return filepath.ToSlash(name[len(w.prefix):]), true
}

// absPath turns a slash-separated relative path into an absolute one.
func (w *Watcher) absPath(rel string) string {
	if rel == "." {
		return w.root
	}
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

func (w *Watcher) skip(rel string, isDir bool) bool {
	return w.opts.Skip != nil && w.opts.Skip(rel, isDir)
}

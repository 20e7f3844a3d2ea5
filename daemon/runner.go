package daemon

import (
	"context"
	"log/slog"
	"sort"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/metrics"
	"github.com/romsyncd/romsyncd/status"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/watcher"
)

// runner keeps one profile's target mirrored. Its loop goroutine (loop.go)
// is the only one that runs passes, so a folder is never synced twice at
// once; folders that become dirty during a pass wait in the dirty set for
// the next one. Other goroutines (the watcher, the control socket) only
// mark folders dirty, ask for passes and read the state.
type runner struct {
	name    string   // in status and metrics: the profile's, or profile@card
	card    *cardRun // the card this runner keeps in sync; nil: a fixed target
	cfg     *config.Config
	profile config.Profile
	log     *slog.Logger // with the profile's name
	engLog  *slog.Logger // for the engine, which names the profile itself
	metrics *metrics.Metrics
	retry   time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once watches are set (or the source is offline)
	wake   chan struct{} // capacity 1: something was marked dirty

	mu      stdsync.Mutex
	dirty   map[string]bool
	all     bool
	waiters []chan *romsync.Report // full-pass requests (romsyncd sync)
	st      runState
	w       *watcher.Watcher

	planned atomic.Int64 // bytes of the pass in flight
	doneB   atomic.Int64
}

// phase is where a runner is in its life.
type phase int

const (
	phaseStarting phase = iota
	phaseSyncing
	phaseInSync
	phasePaused    // waiting for the card or the library
	phaseFailed    // the last pass failed, or files failed
	phaseNotInSync // files left out that only the user can settle
)

// runState is the runner's own record of how its profile is doing; the
// control socket's status type is built from it (status).
type runState struct {
	phase         phase
	reason        string // why paused or failed, one line
	err           error  // the error that paused the profile (answers requests meanwhile)
	lastPass      time.Time
	lastDuration  time.Duration
	conflicts     problems // as they stand now
	skipped       problems
	savesBackedUp int // save versions backed up since the daemon started
}

func newRunner(cfg *config.Config, p config.Profile, log *slog.Logger, m *metrics.Metrics, retry time.Duration) *runner {
	return &runner{
		name: p.Name, cfg: cfg, profile: p, log: log.With("profile", p.Name), engLog: log, metrics: m, retry: retry,
		done: make(chan struct{}), ready: make(chan struct{}), wake: make(chan struct{}, 1),
		dirty: map[string]bool{},
	}
}

func (r *runner) stop() { r.cancel() }

// mark records dirty library folders (the watcher's emit).
func (r *runner) mark(b watcher.Batch) {
	r.mu.Lock()
	if b.All {
		r.all = true
	}
	for _, d := range b.Dirs {
		r.dirty[d] = true
	}
	r.mu.Unlock()
	r.poke()
}

func (r *runner) markAll() {
	r.mu.Lock()
	r.all = true
	r.mu.Unlock()
	r.poke()
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// requestFull asks for a full pass; the channel receives its report (nil
// if the runner stops first). A profile that is paused (card absent,
// library offline) is answered at once with why: nothing would run.
func (r *runner) requestFull() chan *romsync.Report {
	ch := make(chan *romsync.Report, 1)
	r.mu.Lock()
	if r.st.phase == phasePaused && r.st.err != nil {
		rep := romsync.ErrorReport(r.profile.Name, r.profile.Source, r.profile.Target, r.st.err)
		r.mu.Unlock()
		ch <- rep
		return ch
	}
	r.waiters = append(r.waiters, ch)
	r.all = true
	r.mu.Unlock()
	r.poke()
	select {
	case <-r.done:
		r.releaseWaiters()
	default:
	}
	return ch
}

// releaseWaiters answers every waiting request with nil: the runner stopped.
func (r *runner) releaseWaiters() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.waiters {
		w <- nil
	}
	r.waiters = nil
}

// take empties the dirty set: a full pass, or the folders marked.
func (r *runner) take() (romsync.Scope, []chan *romsync.Report, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.all {
		waiters := r.waiters
		r.waiters = nil
		r.all = false
		r.dirty = map[string]bool{}
		return romsync.Scope{All: true}, waiters, true
	}
	if len(r.dirty) == 0 {
		return romsync.Scope{}, nil, false
	}
	dirs := make([]string, 0, len(r.dirty))
	for d := range r.dirty {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	r.dirty = map[string]bool{}
	return romsync.Scope{Dirs: dirs}, nil, true
}

// putBack returns a scope that could not run to the dirty set.
func (r *runner) putBack(sc romsync.Scope, waiters []chan *romsync.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sc.All {
		r.all = true
	}
	for _, d := range sc.Dirs {
		r.dirty[d] = true
	}
	r.waiters = append(waiters, r.waiters...)
}

// dirtyCount is the number of dirty folders waiting for a pass.
func (r *runner) dirtyCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.dirty)
}

func (r *runner) setState(f func(st *runState)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

func (r *runner) setWatcher(w *watcher.Watcher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w = w
}

// phaseStates is the control socket's name of each phase.
var phaseStates = map[phase]string{
	phaseStarting:  status.StateStarting,
	phaseSyncing:   status.StateSyncing,
	phaseInSync:    status.StateInSync,
	phasePaused:    status.StatePausedOffline,
	phaseFailed:    status.StateError,
	phaseNotInSync: status.StateNotInSync,
}

// status builds the control socket's view of the runner.
func (r *runner) status() status.ProfileStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := status.ProfileStatus{
		Name: r.name, State: phaseStates[r.st.phase], Source: r.profile.Source, Target: r.profile.Target,
		DirtyFolders: len(r.dirty), LastPass: r.st.lastPass, LastPassDuration: r.st.lastDuration,
	}
	switch r.st.phase {
	case phasePaused:
		st.Offline = r.st.reason
	case phaseFailed, phaseNotInSync:
		st.LastError = r.st.reason
	}
	st.Conflicts, st.Skipped = r.st.conflicts.list(), r.st.skipped.list()
	st.SavesBackedUp = r.st.savesBackedUp
	if c := r.card; c != nil {
		st.Card = c.label
		switch {
		case r.st.phase == phaseInSync && c.safe:
			st.State = status.StateSafeToRemove
		case r.st.phase == phaseSyncing:
			st.State = status.StateDoNotRemove
		}
	}
	if r.all {
		st.DirtyFolders = -1
	}
	if q := r.planned.Load() - r.doneB.Load(); q > 0 {
		st.QueuedBytes = q
	}
	if r.w != nil {
		ws := r.w.Stats()
		st.Watches, st.Polled = ws.Watches, ws.Polled
	}
	return st
}

// Planned and Done implement sync.Progress for the pass in flight.
func (r *runner) Planned(files int, bytes int64) { r.planned.Store(bytes); r.doneB.Store(0) }
func (r *runner) Done(files int, bytes int64) {
	r.doneB.Add(bytes)
	if r.metrics != nil {
		r.metrics.FileInstalled(r.name, bytes)
	}
}

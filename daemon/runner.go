package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"path"
	"runtime/debug"
	"sort"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/metrics"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/status"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/watcher"
)

// runner keeps one profile's target mirrored. Its run goroutine is the only
// one that runs passes, so a folder is never synced twice at once; folders
// that become dirty during a pass wait in the dirty set for the next one.
type runner struct {
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
	waiters []chan json.RawMessage // full-pass requests (romsyncd sync)
	st      status.ProfileStatus
	w       *watcher.Watcher

	planned atomic.Int64 // bytes of the pass in flight
	doneB   atomic.Int64
}

func newRunner(cfg *config.Config, p config.Profile, log *slog.Logger, m *metrics.Metrics, retry time.Duration) *runner {
	return &runner{
		cfg: cfg, profile: p, log: log.With("profile", p.Name), engLog: log, metrics: m, retry: retry,
		done: make(chan struct{}), ready: make(chan struct{}), wake: make(chan struct{}, 1),
		dirty: map[string]bool{},
		st:    status.ProfileStatus{Name: p.Name, State: status.StateStarting, Source: p.Source, Target: p.Target},
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
// if the runner stops first).
func (r *runner) requestFull() chan json.RawMessage {
	ch := make(chan json.RawMessage, 1)
	r.mu.Lock()
	r.waiters = append(r.waiters, ch)
	r.all = true
	r.mu.Unlock()
	r.poke()
	select {
	case <-r.done:
		ch <- nil
	default:
	}
	return ch
}

// take empties the dirty set: a full pass, or the folders marked.
func (r *runner) take() (romsync.Scope, []chan json.RawMessage, bool) {
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
func (r *runner) putBack(sc romsync.Scope, waiters []chan json.RawMessage) {
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

func (r *runner) setState(f func(st *status.ProfileStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

func (r *runner) status() status.ProfileStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.DirtyFolders = len(r.dirty)
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
		r.metrics.FileInstalled(r.profile.Name, bytes)
	}
}

func (r *runner) run(ctx context.Context) {
	defer func() {
		r.mu.Lock()
		for _, w := range r.waiters {
			w <- nil
		}
		r.waiters = nil
		r.mu.Unlock()
	}()
	var wg stdsync.WaitGroup
	defer wg.Wait()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()

	// Watches first, then the initial full pass: nothing that changes
	// during a long first mirror is lost.
	readyOnce := stdsync.OnceFunc(func() { close(r.ready) })
	defer readyOnce()
	for r.w == nil {
		w, err := r.newWatcher()
		if err == nil {
			r.mu.Lock()
			r.w = w
			r.mu.Unlock()
			wg.Go(func() {
				if err := w.Run(wctx, r.mark); err != nil {
					r.log.Error("watcher stopped", "err", err)
				}
			})
			break
		}
		if reason := "source offline: " + err.Error(); reason != r.status().Offline {
			r.log.Warn("profile paused", "err", reason) // once per reason: why the profile is idle
		}
		r.offline("source offline: " + err.Error())
		readyOnce()
		if !sleep(ctx, r.retry) {
			return
		}
	}
	select {
	case <-r.w.Ready():
	case <-ctx.Done():
		return
	}
	readyOnce()
	r.markAll()

	opts, err := profiles.Options(r.cfg, &r.profile, r.engLog)
	if err != nil {
		r.fail(err)
		<-ctx.Done()
		return
	}
	opts.Progress = r
	var sess *romsync.Session
	defer func() {
		if sess != nil {
			sess.Close()
		}
	}()
	rescan := time.NewTimer(jitter(r.profile.Rescan))
	defer rescan.Stop()
	// Files skipped as busy (still being written) are retried once their
	// folder has been quiet for a while, even if no new event comes.
	busy := map[string]bool{}
	busyRetry := time.NewTimer(time.Hour)
	busyRetry.Stop()
	defer busyRetry.Stop()
	check := time.NewTicker(r.retry)
	defer check.Stop()
	lastErr := ""
	for {
		if ctx.Err() != nil {
			return
		}
		if sess == nil {
			s, err := romsync.Open(ctx, opts)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if msg := err.Error(); msg != lastErr {
					r.log.Warn("profile paused", "err", err)
					lastErr = msg
				}
				r.offline(err.Error())
				r.answerWaiters(err)
				if !r.waitRetry(ctx) {
					return
				}
				continue
			}
			sess = s
			r.markAll()
			if r.metrics != nil {
				r.metrics.TargetOnline(r.profile.Name, true)
			}
		}
		scope, waiters, ok := r.take()
		if !ok {
			r.setState(func(st *status.ProfileStatus) {
				if st.State == status.StateSyncing || st.State == status.StateStarting {
					st.State = status.StateInSync
				}
			})
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			case <-rescan.C:
				rescan.Reset(jitter(r.profile.Rescan))
				r.markAll()
			case <-busyRetry.C:
				dirs := make([]string, 0, len(busy))
				for d := range busy {
					dirs = append(dirs, d)
				}
				clear(busy)
				r.mark(watcher.Batch{Dirs: dirs})
			case <-check.C:
				if !sess.Target().Online() {
					sess.Close()
					sess = nil
					if r.metrics != nil {
						r.metrics.TargetOnline(r.profile.Name, false)
					}
				}
			}
			if r.metrics != nil {
				r.mu.Lock()
				n := len(r.dirty)
				r.mu.Unlock()
				r.metrics.DirtyFolders(r.profile.Name, n)
			}
			continue
		}
		r.setState(func(st *status.ProfileStatus) { st.State = status.StateSyncing })
		rep, err := sess.Pass(ctx, scope)
		r.planned.Store(0)
		r.doneB.Store(0)
		if ctx.Err() != nil {
			r.putBack(scope, waiters)
			return
		}
		r.record(rep, err)
		r.reply(waiters, rep)
		// A pass's listings are garbage now; an idle daemon gives the
		// memory back instead of sitting on a heap sized for its peak.
		debug.FreeOSMemory()
		if n := len(busy); markBusy(busy, rep) && n == 0 {
			busyRetry.Reset(max(r.profile.Debounce, time.Second))
		}
		switch {
		case err == nil:
			if lastErr != "" {
				r.log.Info("profile resumed")
			}
			lastErr = ""
		case offlineErr(err):
			// Keep the work for when the card or the library is back.
			r.putBack(scope, nil)
			sess.Close()
			sess = nil
			if msg := err.Error(); msg != lastErr {
				r.log.Warn("profile paused", "err", err)
				lastErr = msg
			}
			r.offline(err.Error())
			if r.metrics != nil {
				r.metrics.TargetOnline(r.profile.Name, false)
			}
			if !r.waitRetry(ctx) {
				return
			}
		default:
			if msg := err.Error(); msg != lastErr {
				r.log.Error("pass failed", "err", err)
				lastErr = msg
			}
		}
	}
}

func (r *runner) newWatcher() (*watcher.Watcher, error) {
	mode, err := watcher.ParseMode(r.profile.Watch)
	if err != nil {
		return nil, err
	}
	return watcher.New(watcher.Options{
		Root: r.profile.Source, Debounce: r.profile.Debounce, MaxDelay: r.profile.MaxDelay,
		Mode: mode, PollInterval: r.profile.PollInterval, Logger: r.log,
		Skip: func(rel string, isDir bool) bool { return romsync.Skipped(rel, isDir) },
	})
}

// waitRetry waits for the retry interval or the end.
func (r *runner) waitRetry(ctx context.Context) bool {
	t := time.NewTimer(r.retry)
	defer t.Stop()
	// Changes seen meanwhile stay in the dirty set; they must not cut the
	// wait short, or an outage becomes a busy loop.
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return true
}

func offlineErr(err error) bool {
	return errors.Is(err, romsync.ErrTargetOffline) || errors.Is(err, romsync.ErrMarkerMissing) ||
		errors.Is(err, romsync.ErrSourceOffline) || errors.Is(err, romsync.ErrTargetBusy) ||
		errors.Is(err, romsync.ErrWrongProfile)
}

func (r *runner) offline(reason string) {
	r.setState(func(st *status.ProfileStatus) {
		st.State = status.StatePausedOffline
		st.Offline = reason
	})
}

func (r *runner) fail(err error) {
	r.log.Error("profile cannot run", "err", err)
	r.setState(func(st *status.ProfileStatus) {
		st.State = status.StateError
		st.LastError = err.Error()
	})
}

// record updates status, metrics and the log after a pass.
func (r *runner) record(rep *romsync.Report, err error) {
	r.setState(func(st *status.ProfileStatus) {
		st.LastPass = time.Now()
		st.LastPassDuration = rep.Duration
		st.Offline = ""
		switch {
		case err != nil:
			st.State = status.StateError
			st.LastError = err.Error()
		case !rep.InSync:
			st.State = status.StateError
			st.LastError = problemSummary(rep)
		default:
			st.State = status.StateInSync
			st.LastError = ""
		}
	})
	if r.metrics != nil {
		r.metrics.PassDone(r.profile.Name, rep.Duration, err == nil && rep.InSync)
		r.metrics.Conflicts(r.profile.Name, len(rep.Conflicts))
		r.metrics.Deleted(r.profile.Name, rep.Deleted)
		for range rep.VerifyFailures {
			r.metrics.VerifyFailure(r.profile.Name)
		}
		r.metrics.TargetOnline(r.profile.Name, err == nil || !offlineErr(err))
	}
	if rep.Copied+rep.Deleted+rep.Renamed+len(rep.Conflicts)+len(rep.Errors)+len(rep.Skipped) > 0 {
		r.log.Info("pass", "copied", rep.Copied, "bytes", rep.CopiedBytes, "renamed", rep.Renamed, "deleted", rep.Deleted,
			"unchanged", rep.Unchanged, "conflicts", len(rep.Conflicts), "skipped", len(rep.Skipped), "errors", len(rep.Errors),
			"duration", rep.Duration.Round(time.Millisecond))
	}
	for _, c := range rep.Conflicts {
		r.log.Warn("conflict", "path", c.Path, "reason", c.Reason)
	}
	for _, e := range rep.Errors {
		r.log.Warn("file failed", "path", e.Path, "reason", e.Reason)
	}
}

func problemSummary(rep *romsync.Report) string {
	switch {
	case len(rep.Errors) > 0:
		return rep.Errors[0].Path + ": " + rep.Errors[0].Reason
	case len(rep.Conflicts) > 0:
		return "conflict " + rep.Conflicts[0].Path + ": " + rep.Conflicts[0].Reason
	case len(rep.Skipped) > 0:
		return "skipped " + rep.Skipped[0].Path + ": " + rep.Skipped[0].Reason
	case rep.DeletesHeld != "":
		return rep.DeletesHeld
	}
	return ""
}

func (r *runner) reply(waiters []chan json.RawMessage, rep *romsync.Report) {
	if len(waiters) == 0 {
		return
	}
	data, err := json.Marshal(rep)
	if err != nil {
		data = nil
	}
	for _, w := range waiters {
		w <- data
	}
}

// answerWaiters answers full-pass requests while the profile cannot run.
func (r *runner) answerWaiters(err error) {
	r.mu.Lock()
	waiters := r.waiters
	r.waiters = nil
	r.mu.Unlock()
	if len(waiters) == 0 {
		return
	}
	rep := &romsync.Report{Profile: r.profile.Name, Source: r.profile.Source, Target: r.profile.Target, Error: err.Error(),
		Conflicts: []romsync.Item{}, Skipped: []romsync.Item{}, Errors: []romsync.Item{}}
	r.reply(waiters, rep)
}

// markBusy adds the library folders of files skipped as busy to set and
// reports whether there were any.
func markBusy(set map[string]bool, rep *romsync.Report) bool {
	found := false
	for _, it := range rep.Skipped {
		if strings.HasPrefix(it.Reason, "busy") {
			set[path.Dir(it.Path)] = true
			found = true
		}
	}
	return found
}

// jitter spreads periodic full passes by ±25%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 100 * 365 * 24 * time.Hour
	}
	return d*3/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

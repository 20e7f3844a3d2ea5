package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"runtime/debug"
	stdsync "sync"
	"time"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/saves"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/watcher"
)

// reaction is what the daemon does after an error of one kind: the phase
// the profile goes to (paused: close the card, keep the work, try again
// every RetryInterval) and the level of the log line, written when the
// message changes. A new kind in package outcome gets its row here.
type reaction struct {
	phase phase
	level slog.Level
}

var reactions = map[outcome.Kind]reaction{
	outcome.MarkerMissing:  {phasePaused, slog.LevelWarn},
	outcome.TargetOffline:  {phasePaused, slog.LevelWarn},
	outcome.TargetBusy:     {phasePaused, slog.LevelWarn},
	outcome.WrongProfile:   {phasePaused, slog.LevelWarn},
	outcome.SourceOffline:  {phasePaused, slog.LevelWarn},
	outcome.TargetFull:     {phaseFailed, slog.LevelError},
	outcome.TooManyDeletes: {phaseFailed, slog.LevelError},
	outcome.Failed:         {phaseFailed, slog.LevelError},
}

func reactionTo(err error) reaction {
	if re, ok := reactions[outcome.Of(err)]; ok {
		return re
	}
	return reactions[outcome.Failed]
}

// loop is the state of one runner's event loop, owned by its goroutine.
type loop struct {
	r         *runner
	opts      romsync.Options
	saves     *saves.Options   // the profile's saves backup; nil: none
	sess      *romsync.Session // the card, open and locked; nil while paused
	rescan    *time.Timer      // periodic full pass
	busy      map[string]bool  // library folders with files skipped as busy
	busyRetry *time.Timer      // retries them once their folders are quiet
	check     *time.Ticker     // is the card still there?
	lastErr   string           // the last error logged, so it is logged once

	lastSavesErr string // the last saves backup error logged
}

// run is the runner's goroutine: watches first, then the initial full
// pass, then one pass per batch of dirty folders until ctx ends.
func (r *runner) run(ctx context.Context) {
	defer r.releaseWaiters()
	var wg stdsync.WaitGroup
	defer wg.Wait()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	readyOnce := stdsync.OnceFunc(func() { close(r.ready) })
	defer readyOnce()

	// Watches before the first pass: nothing that changes during a long
	// first mirror is lost.
	if !r.startWatcher(ctx, wctx, &wg, readyOnce) {
		return
	}
	readyOnce()
	r.markAll()

	opts, err := profiles.Options(r.cfg, &r.profile, r.engLog)
	if err != nil {
		r.log.Error("profile cannot run", "err", err)
		r.setState(func(st *runState) { *st = runState{phase: phaseFailed, reason: err.Error()} })
		<-ctx.Done()
		return
	}
	opts.Progress = r
	if r.card != nil {
		opts.Share = r.card.share
	}
	l := &loop{
		r: r, opts: opts, busy: map[string]bool{},
		saves:  savesOptions(&r.profile, r.log),
		rescan: time.NewTimer(jitter(r.profile.Rescan)), busyRetry: time.NewTimer(time.Hour), check: time.NewTicker(r.retry),
	}
	l.busyRetry.Stop()
	defer l.close()
	for ctx.Err() == nil {
		if l.sess == nil && !l.open(ctx) {
			continue
		}
		scope, waiters, ok := r.take()
		if !ok {
			l.idle(ctx)
			continue
		}
		l.pass(ctx, scope, waiters)
	}
}

// startWatcher sets the watches on the library, trying again while it is
// offline. It returns false when ctx ends first.
func (r *runner) startWatcher(ctx, wctx context.Context, wg *stdsync.WaitGroup, ready func()) bool {
	last := ""
	for {
		w, err := r.newWatcher()
		if err == nil {
			r.setWatcher(w)
			wg.Go(func() {
				if err := w.Run(wctx, r.mark); err != nil {
					r.log.Error("watcher stopped", "err", err)
				}
			})
			break
		}
		err = fmt.Errorf("source %s: %w: %v", r.profile.Source, outcome.ErrSourceOffline, err)
		if err.Error() != last {
			r.log.Warn("profile paused", "err", err) // once per reason: why the profile is idle
			last = err.Error()
		}
		r.setState(func(st *runState) { *st = runState{phase: phasePaused, reason: err.Error(), err: err} })
		ready()
		if !sleep(ctx, r.retry) {
			return false
		}
	}
	select {
	case <-r.w.Ready():
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *runner) newWatcher() (*watcher.Watcher, error) {
	return watcher.New(watcher.Options{
		Root: r.profile.Source, Debounce: r.profile.Debounce, MaxDelay: r.profile.MaxDelay,
		Mode: r.profile.Watch, PollInterval: r.profile.PollInterval, Logger: r.log,
		Skip: func(rel string, isDir bool) bool { return romsync.Skipped(rel, isDir) },
	})
}

func (l *loop) close() {
	l.rescan.Stop()
	l.busyRetry.Stop()
	l.check.Stop()
	l.closeSession()
}

func (l *loop) closeSession() {
	if l.sess != nil {
		l.sess.Close()
		l.sess = nil
	}
}

// open opens the card. While it cannot be opened, the profile is paused:
// requests are answered with why, and it tries again after the retry
// interval. It returns whether a session is open.
func (l *loop) open(ctx context.Context) bool {
	r := l.r
	s, err := romsync.Open(ctx, l.opts)
	if err == nil {
		l.sess = s
		r.markAll()
		l.targetOnline(true)
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	l.logOnce("profile paused", err)
	l.pause(err)
	r.answerWaiters(err)
	l.waitRetry(ctx)
	return false
}

// pause records a paused profile; the card is closed.
func (l *loop) pause(err error) {
	l.closeSession()
	l.r.setState(func(st *runState) { st.phase, st.reason, st.err = phasePaused, err.Error(), err })
	l.targetOnline(false)
}

// idle waits for the next event: a dirty folder, the periodic rescan, the
// retry of busy files, the check that the card is still there.
func (l *loop) idle(ctx context.Context) {
	r := l.r
	r.setState(func(st *runState) {
		if st.phase == phaseSyncing || st.phase == phaseStarting {
			st.phase = phaseInSync
		}
	})
	select {
	case <-ctx.Done():
		return
	case <-r.wake:
	case <-l.rescan.C:
		l.onRescan()
	case <-l.busyRetry.C:
		l.onBusyRetry()
	case <-l.check.C:
		l.onCheck()
	}
	if r.metrics != nil {
		r.metrics.DirtyFolders(r.name, r.dirtyCount())
	}
}

func (l *loop) onRescan() {
	l.rescan.Reset(jitter(l.r.profile.Rescan))
	l.r.markAll()
}

func (l *loop) onBusyRetry() {
	dirs := make([]string, 0, len(l.busy))
	for d := range l.busy {
		dirs = append(dirs, d)
	}
	clear(l.busy)
	l.r.mark(watcher.Batch{Dirs: dirs})
}

func (l *loop) onCheck() {
	if !l.sess.Target().Online() {
		l.closeSession()
		l.targetOnline(false)
	}
}

// pass runs one pass over scope and reacts to its outcome.
func (l *loop) pass(ctx context.Context, scope romsync.Scope, waiters []chan *romsync.Report) {
	r := l.r
	r.setState(func(st *runState) { st.phase = phaseSyncing })
	if r.card != nil {
		r.card.syncing(r)
	}
	rep, err := l.sess.Pass(ctx, scope)
	r.planned.Store(0)
	r.doneB.Store(0)
	if ctx.Err() != nil {
		r.putBack(scope, waiters)
		return
	}
	if err == nil || reactionTo(err).phase != phasePaused {
		// The saves come home while the card is here, before the state
		// says the pass is done.
		l.backupSaves(ctx)
		// Nothing of romsyncd keeps the card busy between passes: the
		// desktop can unmount it whenever no pass is writing (released
		// before the state says the pass is done).
		if rerr := l.sess.Release(); rerr != nil {
			r.log.Debug("release card", "err", rerr)
		}
	}
	r.record(scope, rep, err)
	if r.card != nil {
		r.card.done(ctx, r, rep, err)
	}
	reply(waiters, rep)
	// A pass's listings are garbage now; an idle daemon gives the memory
	// back instead of sitting on a heap sized for its peak.
	debug.FreeOSMemory()
	if n := len(l.busy); markBusy(l.busy, rep) && n == 0 {
		l.busyRetry.Reset(max(r.profile.Debounce, time.Second))
	}
	switch {
	case err == nil:
		if l.lastErr != "" {
			r.log.Info("profile resumed")
		}
		l.lastErr = ""
	case reactionTo(err).phase == phasePaused:
		// Keep the work for when the card or the library is back.
		r.putBack(scope, nil)
		l.logOnce("profile paused", err)
		l.pause(err)
		l.waitRetry(ctx)
	default:
		l.logOnce("pass failed", err)
	}
}

// logOnce logs err at its kind's level, unless it is the error logged last.
func (l *loop) logOnce(msg string, err error) {
	if s := err.Error(); s != l.lastErr {
		l.r.log.Log(context.Background(), reactionTo(err).level, msg, "err", err)
		l.lastErr = s
	}
}

func (l *loop) targetOnline(online bool) {
	if l.r.metrics != nil {
		l.r.metrics.TargetOnline(l.r.name, online)
	}
}

// waitRetry waits for the retry interval or the end. Changes seen
// meanwhile stay in the dirty set; they must not cut the wait short, or an
// outage becomes a busy loop.
func (l *loop) waitRetry(ctx context.Context) {
	sleep(ctx, l.r.retry)
}

func reply(waiters []chan *romsync.Report, rep *romsync.Report) {
	for _, w := range waiters {
		w <- rep
	}
}

// answerWaiters answers full-pass requests while the profile cannot run.
func (r *runner) answerWaiters(err error) {
	r.mu.Lock()
	waiters := r.waiters
	r.waiters = nil
	r.mu.Unlock()
	reply(waiters, romsync.ErrorReport(r.profile.Name, r.profile.Source, r.profile.Target, err))
}

// markBusy adds the library folders of files skipped as busy to set and
// reports whether there were any.
func markBusy(set map[string]bool, rep *romsync.Report) bool {
	found := false
	for _, it := range rep.Skipped {
		if it.Skip == outcome.Busy {
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

func savesOptions(p *config.Profile, log *slog.Logger) *saves.Options {
	o, ok := profiles.SavesOptions(p, log)
	if !ok {
		return nil
	}
	return &o
}

// backupSaves copies the card's new and changed saves off it (profiles
// with saves:). A failure is logged once and does not fail the pass: the
// next pass tries again.
func (l *loop) backupSaves(ctx context.Context) {
	if l.saves == nil || ctx.Err() != nil {
		return
	}
	r := l.r
	rep, err := saves.Backup(ctx, *l.saves)
	if err != nil {
		if ctx.Err() == nil && err.Error() != l.lastSavesErr {
			r.log.Warn("saves backup failed", "err", err)
			l.lastSavesErr = err.Error()
		}
		return
	}
	l.lastSavesErr = ""
	r.setState(func(st *runState) { st.savesBackedUp += rep.BackedUp })
	if rep.BackedUp > 0 {
		r.log.Info("saves backed up", "versions", rep.BackedUp, "bytes", rep.Bytes, "card", rep.Card)
	}
}

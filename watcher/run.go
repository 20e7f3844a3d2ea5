package watcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/fsnotify/fsnotify"
)

const (
	// eventBuffer is the capacity of fsnotify's event channel. The kernel
	// queue (fs.inotify.max_queued_events, 16384 by default) does the real
	// buffering; this only smooths the hand-over between the two goroutines.
	eventBuffer = 256
	// drainMax bounds how many queued events one loop turn reads before it
	// looks at timers and the context again.
	drainMax = 4096

	maxUserWatchesFile = "/proc/sys/fs/inotify/max_user_watches"
)

// dir is one known folder under the root that is not skipped.
type dir struct {
	rel      string
	parent   *dir
	children map[string]*dir // by base name; nil while there are none
	watched  bool            // has an inotify watch
	polled   bool            // compared with hash every PollInterval
	limited  bool            // polled because the inotify watch limit was reached
	failing  bool            // the last poll could not list it (logged once)
	hash     uint64          // xxhash of the listing, for polled folders
}

// run is the state of one Run call. Only Run's goroutine touches it.
type run struct {
	w    *Watcher
	emit func(Batch)
	fsw  *fsnotify.Watcher // nil when every folder is polled
	pend *pending

	dirs   map[string]*dir // every known folder, by relative path
	polled map[string]*dir // the polled ones

	nWatched    int
	nLimited    int
	overflows   int
	limitWarned bool // the watch-limit warning was logged (once per Run)
	limitActive bool // some folders are polled for want of watches

	rootInfo os.FileInfo // the root crawled last, to notice it being replaced
	gone     bool        // the root is missing; waiting for its return

	hasher   *xxhash.Digest
	buf      []byte // listing bytes being hashed
	pollList []*dir // scratch for tick
}

func newRun(w *Watcher, emit func(Batch)) *run {
	return &run{
		w:      w,
		emit:   emit,
		pend:   newPending(w.opts.Debounce, w.opts.MaxDelay),
		dirs:   make(map[string]*dir),
		polled: make(map[string]*dir),
		hasher: xxhash.New(),
	}
}

func (r *run) openNotify() error {
	fsw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return fmt.Errorf("inotify init: %w", err)
	}
	r.fsw = fsw
	return nil
}

// close releases every watch; fsnotify's Close waits for its reader
// goroutine to end.
func (r *run) close() {
	if r.fsw == nil {
		return
	}
	if err := r.fsw.Close(); err != nil {
		r.w.log.Debug("closing inotify", "err", err)
	}
}

// publish copies the counters to Stats.
func (r *run) publish() {
	r.w.setStats(func(s *Stats) {
		s.Watches = r.nWatched
		s.Polled = len(r.polled)
		s.Overflows = r.overflows
	})
}

// start sets the initial watches and snapshots. A missing root is not an
// error: Run keeps polling for it.
func (r *run) start(now time.Time) error {
	fi, err := statDir(r.w.root)
	if err != nil {
		if isGone(err) {
			r.lose(err)
			return nil
		}
		return fmt.Errorf("watch %s: %w", r.w.root, err)
	}
	r.rootInfo = fi
	if err := r.crawl(".", false, false, now); err != nil {
		if isGone(err) {
			r.lose(err)
			return nil
		}
		return fmt.Errorf("watch %s: %w", r.w.root, err)
	}
	r.reportLimit()
	return nil
}

func (r *run) loop(ctx context.Context) error {
	ticker := time.NewTicker(r.w.opts.PollInterval)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var armed time.Time // when timer fires; zero when stopped

	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.fsw != nil {
		events, errs = r.fsw.Events, r.fsw.Errors
	}
	for {
		now := time.Now()
		if b, ok := r.pend.take(now); ok {
			r.emit(b)
		}
		r.reportLimit()
		r.publish()
		if next, ok := r.pend.nextDue(); !ok {
			if !armed.IsZero() {
				timer.Stop()
				armed = time.Time{}
			}
		} else if !next.Equal(armed) {
			timer.Reset(time.Until(next)) // not next.Sub(now): emit may have taken a while
			armed = next
		}

		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			now := time.Now()
			r.event(ev, now)
		drain:
			for range drainMax {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						break drain
					}
					r.event(ev, now)
				default:
					break drain
				}
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.notifyError(err, time.Now())
		case <-ticker.C:
			r.tick(time.Now())
		case <-timer.C:
			armed = time.Time{}
		}
	}
}

// event turns one fsnotify event into dirty folders and watch changes.
func (r *run) event(ev fsnotify.Event, now time.Time) {
	if r.gone {
		return
	}
	rel, ok := r.w.relPath(ev.Name)
	if !ok {
		return
	}
	if rel == "." {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			r.checkRoot(now)
			return
		}
		r.pend.mark(".", now)
		return
	}
	parent := parentOf(rel)
	if d := r.dirs[rel]; d != nil {
		switch {
		case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
			// Gone, or moved away (a move inside the root is followed by
			// a Create at the new name, which crawls it there).
			r.removed(d, now)
		case ev.Has(fsnotify.Create):
			// Created again before we saw it go: crawl it afresh.
			r.pend.mark(parent, now)
			if err := r.crawl(rel, true, true, now); err != nil {
				r.w.log.Warn("cannot list folder", "dir", rel, "err", err)
			}
		default:
			r.pend.mark(rel, now)
		}
		return
	}
	if ev.Has(fsnotify.Create) {
		fi, err := os.Lstat(ev.Name)
		if err == nil && fi.IsDir() {
			if r.w.skip(rel, true) {
				return
			}
			r.pend.mark(parent, now)
			if err := r.crawl(rel, true, false, now); err != nil {
				r.w.log.Warn("cannot list new folder", "dir", rel, "err", err)
			}
			return
		}
	}
	// A file, or something already gone again: we cannot tell a removed
	// folder we never knew from a file, and reporting its parent is the
	// safe side.
	if r.w.skip(rel, false) {
		return
	}
	r.pend.mark(parent, now)
}

// notifyError handles an error from fsnotify. Events may have been lost, so
// the watches are crawled again and a full pass is asked for.
func (r *run) notifyError(err error, now time.Time) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.overflows++
		r.w.log.Warn("inotify queue overflowed; crawling again and asking for a full pass",
			"overflows", r.overflows,
			"hint", "raise fs.inotify.max_queued_events or the debounce if this repeats")
	} else {
		r.w.log.Warn("inotify error; crawling again and asking for a full pass", "err", err)
	}
	if r.gone {
		return // its return asks for a full pass anyway
	}
	if err := r.crawl(".", false, true, now); err != nil {
		r.checkRoot(now)
		return
	}
	r.pend.markAll(now)
}

// tick runs every PollInterval: it checks the root, polls polled folders and
// tries again to watch the folders the watch limit left polled.
func (r *run) tick(now time.Time) {
	r.checkRoot(now)
	if r.gone || len(r.polled) == 0 {
		return
	}
	list := r.pollList[:0]
	for _, d := range r.polled {
		list = append(list, d)
	}
	limitHit := false
	for _, d := range list {
		if r.dirs[d.rel] != d {
			continue // dropped by an earlier poll in this tick
		}
		if d.limited && !limitHit {
			err := r.fsw.Add(r.w.absPath(d.rel))
			switch {
			case err == nil:
				r.setWatched(d)
			case isLimit(err):
				limitHit = true
			}
		}
		// Also for a folder that just got its watch: changes made before
		// the watch existed show up as a snapshot difference.
		r.pollDir(d, now)
	}
	clear(list)
	r.pollList = list[:0]
}

// pollDir compares d with its snapshot. On a difference it marks d dirty and
// brings its sub-folders in line: new ones are crawled, vanished ones dropped.
func (r *run) pollDir(d *dir, now time.Time) {
	entries, err := os.ReadDir(r.w.absPath(d.rel))
	if err != nil {
		switch {
		case isGone(err) && d.rel == ".":
			r.checkRoot(now)
		case isGone(err):
			r.removed(d, now)
		case !d.failing:
			d.failing = true
			r.w.log.Warn("cannot list polled folder", "dir", d.rel, "err", err)
		}
		return
	}
	d.failing = false
	h := r.listingHash(d.rel, entries)
	if h == d.hash {
		return
	}
	d.hash = h
	r.pend.mark(d.rel, now)

	subs := r.subdirs(d.rel, entries, nil)
	for name, c := range d.children {
		if _, found := slices.BinarySearch(subs, name); !found {
			r.removed(c, now)
		}
	}
	for _, name := range subs {
		if d.children[name] == nil {
			rel := joinRel(d.rel, name)
			if err := r.crawl(rel, true, false, now); err != nil {
				r.w.log.Warn("cannot list new folder", "dir", rel, "err", err)
			}
		}
	}
}

// crawl brings the folder rel and every folder below it in line with the
// disk: a new folder gets a watch (or a snapshot, when polled), a folder no
// longer on disk is dropped. With mark, every folder visited or dropped is
// marked dirty. With rewatch, known folders are watched again, which repairs
// watches lost with an overflowed queue or a folder replaced unseen.
//
// The error is that of listing rel itself (a missing rel is dropped, not an
// error, unless rel is the root); sub-folders that cannot be listed are
// logged.
func (r *run) crawl(rel string, mark, rewatch bool, now time.Time) error {
	if r.gone {
		return nil
	}
	// Events can name a folder whose parent we do not know yet (an event
	// queued before the parent's own Create was handled): start higher.
	for rel != "." && r.dirs[parentOf(rel)] == nil {
		rel = parentOf(rel)
	}
	stack := []string{rel}
	var subs []string
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]

		d := r.dirs[cur]
		if d == nil {
			d = r.addDir(cur)
			if !r.watch(d) {
				r.drop(d, mark, now)
				continue
			}
		} else if rewatch && (d.watched || d.limited) {
			if !r.watch(d) {
				r.drop(d, mark, now)
				continue
			}
		}

		entries, err := os.ReadDir(r.w.absPath(cur))
		if err != nil {
			switch {
			case cur == ".":
				return err
			case isGone(err):
				r.drop(d, mark, now)
			case cur == rel:
				return err
			default:
				r.w.log.Warn("cannot list folder", "dir", cur, "err", err)
			}
			continue
		}
		if d.polled {
			d.hash = r.listingHash(cur, entries)
		}
		subs = r.subdirs(cur, entries, subs[:0])
		for name, c := range d.children {
			if _, found := slices.BinarySearch(subs, name); !found {
				r.drop(c, mark, now)
			}
		}
		for _, name := range subs {
			stack = append(stack, joinRel(cur, name))
		}
		if mark {
			r.pend.mark(cur, now)
		}
	}
	return nil
}

// subdirs appends to subs the names of the sub-folders in entries that are
// not skipped, in entries' (sorted) order.
func (r *run) subdirs(rel string, entries []fs.DirEntry, subs []string) []string {
	for _, e := range entries {
		if e.IsDir() && !r.w.skip(joinRel(rel, e.Name()), true) {
			subs = append(subs, e.Name())
		}
	}
	return subs
}

// addDir records the new folder rel under its (known) parent.
func (r *run) addDir(rel string) *dir {
	d := &dir{rel: rel}
	if rel != "." {
		p := r.dirs[parentOf(rel)]
		d.parent = p
		if p.children == nil {
			p.children = make(map[string]*dir)
		}
		p.children[baseOf(rel)] = d
	}
	r.dirs[rel] = d
	return d
}

// watch gives d an inotify watch, or makes it polled when it cannot have one.
// It returns false when d no longer exists.
func (r *run) watch(d *dir) bool {
	if r.fsw == nil {
		r.setPolled(d, false)
		return true
	}
	err := r.fsw.Add(r.w.absPath(d.rel))
	switch {
	case err == nil:
		r.setWatched(d)
	case isGone(err):
		return false
	case isLimit(err):
		r.setPolled(d, true)
	default:
		r.w.log.Warn("cannot watch folder; polling it", "dir", d.rel, "err", err)
		r.setPolled(d, false)
	}
	return true
}

func (r *run) setWatched(d *dir) {
	if !d.watched {
		d.watched = true
		r.nWatched++
	}
	if d.polled {
		d.polled = false
		delete(r.polled, d.rel)
	}
	if d.limited {
		d.limited = false
		r.nLimited--
	}
}

func (r *run) setPolled(d *dir, limited bool) {
	if d.watched {
		// A watch on what was there before; it no longer tells us anything.
		_ = r.fsw.Remove(r.w.absPath(d.rel))
		d.watched = false
		r.nWatched--
	}
	if !d.polled {
		d.polled = true
		r.polled[d.rel] = d
	}
	if limited != d.limited {
		d.limited = limited
		if limited {
			r.nLimited++
		} else {
			r.nLimited--
		}
	}
}

// removed handles a folder that left the tree (deleted, or moved out or
// away): its watches are dropped, and it, its sub-folders and its parent are
// marked dirty so the caller mirrors the deletion of their files.
func (r *run) removed(d *dir, now time.Time) {
	r.pend.mark(parentOf(d.rel), now)
	r.drop(d, true, now)
}

// drop forgets d and everything below it, removing their watches.
func (r *run) drop(d *dir, mark bool, now time.Time) {
	if d.parent != nil {
		delete(d.parent.children, baseOf(d.rel))
		if len(d.parent.children) == 0 {
			d.parent.children = nil
		}
	}
	stack := []*dir{d}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range x.children {
			stack = append(stack, c)
		}
		if x.watched {
			// Errors are expected: the kernel drops the watch of a deleted
			// folder by itself.
			_ = r.fsw.Remove(r.w.absPath(x.rel))
			x.watched = false
			r.nWatched--
		}
		if x.polled {
			delete(r.polled, x.rel)
			x.polled = false
		}
		if x.limited {
			x.limited = false
			r.nLimited--
		}
		delete(r.dirs, x.rel)
		if mark {
			r.pend.mark(x.rel, now)
		}
	}
}

// checkRoot notices the root going away, coming back, or being replaced by
// another folder (a remount).
func (r *run) checkRoot(now time.Time) {
	fi, err := statDir(r.w.root)
	switch {
	case err != nil:
		if !r.gone {
			r.lose(err)
		}
	case r.gone:
		r.regain(fi, now, "source root is back; asking for a full pass")
	case !os.SameFile(fi, r.rootInfo):
		if root := r.dirs["."]; root != nil {
			r.drop(root, false, now)
		}
		r.regain(fi, now, "source root was replaced (remounted?); crawled it again, asking for a full pass")
	}
}

// lose enters the gone state: no watches, nothing pending, the root checked
// every PollInterval. It logs once per disappearance.
func (r *run) lose(err error) {
	r.w.log.Warn("source root is gone; waiting for it to come back", "err", err,
		"poll_interval", r.w.opts.PollInterval)
	if root := r.dirs["."]; root != nil {
		r.drop(root, false, time.Time{})
	}
	r.pend.reset()
	r.gone = true
}

// regain crawls the root found at fi and asks for a full pass.
func (r *run) regain(fi os.FileInfo, now time.Time, msg string) {
	wasGone := r.gone
	r.gone = false
	r.rootInfo = fi
	if err := r.crawl(".", false, false, now); err != nil {
		if root := r.dirs["."]; root != nil {
			r.drop(root, false, now)
		}
		if wasGone {
			r.gone = true // still unusable; lose logged it already
			return
		}
		r.lose(err)
		return
	}
	r.pend.markAll(now)
	r.w.log.Info(msg, "watches", r.nWatched, "polled", len(r.polled))
}

// reportLimit logs, once per Run, that the inotify watch limit left folders
// polled, and says when every folder is watched again.
func (r *run) reportLimit() {
	switch {
	case r.nLimited > 0 && !r.limitActive:
		r.limitActive = true
		if r.limitWarned {
			return
		}
		r.limitWarned = true
		limit := "unknown"
		raise := "sysctl -w fs.inotify.max_user_watches=<more>"
		if b, err := os.ReadFile(maxUserWatchesFile); err == nil {
			limit = strings.TrimSpace(string(b))
			if n, err := strconv.Atoi(limit); err == nil {
				raise = fmt.Sprintf("sysctl -w fs.inotify.max_user_watches=%d", max(2*n, n+2*r.nLimited))
			}
		}
		r.w.log.Warn("inotify watch limit reached; polling the folders that could not be watched",
			"polled", r.nLimited, "watched", r.nWatched,
			"max_user_watches", limit, "poll_interval", r.w.opts.PollInterval,
			"fix", raise+" (persist it in /etc/sysctl.d/)")
	case r.nLimited == 0 && r.limitActive:
		r.limitActive = false
		r.w.log.Info("every folder has an inotify watch again", "watches", r.nWatched)
	}
}

// statDir stats path and requires a directory.
func statDir(path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: syscall.ENOTDIR}
	}
	return fi, nil
}

// isGone reports errors meaning "no such folder (any more)".
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// isLimit reports inotify's "too many watches" errors.
func isLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

func baseOf(rel string) string {
	return rel[strings.LastIndexByte(rel, '/')+1:]
}

func joinRel(parent, name string) string {
	if parent == "." {
		return name
	}
	return parent + "/" + name
}

package watcher

import (
	"slices"
	"time"
)

// pending is the set of dirty folders not emitted yet, one entry per folder
// however many events arrive for it, so a burst of events costs memory in
// proportion to the folders it touches, not to the events.
//
// A folder is due once it has been quiet for debounce, or once maxDelay has
// passed since its first pending event, whichever comes first. A pending full
// pass (all) follows the same rule and, when due, replaces every pending
// folder. pending does not read the clock: every call is given "now", so the
// rules are tested with made-up times.
type pending struct {
	debounce time.Duration
	maxDelay time.Duration

	dirs map[string]span
	all  span // all.first is zero when no full pass is pending
	peak int  // largest len(dirs) since dirs was last allocated

	// next is a lower bound of the earliest due time (nothing is due
	// before it); zero when nothing is pending.
	next time.Time
}

// span is when a pending entry's first and last events arrived.
type span struct{ first, last time.Time }

// shrinkAbove is the map size past which an emptied map is reallocated: Go
// maps keep their buckets after deletes, and one burst over a whole library
// should not pin that memory for the life of the daemon.
const shrinkAbove = 1024

func newPending(debounce, maxDelay time.Duration) *pending {
	return &pending{debounce: debounce, maxDelay: maxDelay, dirs: make(map[string]span)}
}

func (p *pending) due(s span) time.Time {
	quiet := s.last.Add(p.debounce)
	capped := s.first.Add(p.maxDelay)
	if capped.Before(quiet) {
		return capped
	}
	return quiet
}

// soon records that a new entry started at now; it cannot be due before
// now + min(debounce, maxDelay). Later events only push an entry's due time
// back, so only new entries can move next earlier.
func (p *pending) soon(now time.Time) {
	t := now.Add(min(p.debounce, p.maxDelay))
	if p.next.IsZero() || t.Before(p.next) {
		p.next = t
	}
}

// mark records an event for the folder rel at now.
func (p *pending) mark(rel string, now time.Time) {
	s, ok := p.dirs[rel]
	if !ok {
		s.first = now
		p.soon(now)
	}
	s.last = now
	p.dirs[rel] = s
	if len(p.dirs) > p.peak {
		p.peak = len(p.dirs)
	}
}

// markAll records that everything may have changed at now.
func (p *pending) markAll(now time.Time) {
	if p.all.first.IsZero() {
		p.all.first = now
		p.soon(now)
	}
	p.all.last = now
}

// nextDue returns the time to look again; ok is false when nothing is pending.
func (p *pending) nextDue() (t time.Time, ok bool) {
	return p.next, !p.next.IsZero()
}

// reset forgets everything pending.
func (p *pending) reset() {
	p.all = span{}
	p.next = time.Time{}
	p.clearDirs()
}

func (p *pending) clearDirs() {
	if p.peak > shrinkAbove {
		p.dirs = make(map[string]span)
		p.peak = 0
		return
	}
	clear(p.dirs)
}

// take removes and returns everything due at now. ok is false when nothing
// is due.
func (p *pending) take(now time.Time) (b Batch, ok bool) {
	if p.next.IsZero() || now.Before(p.next) {
		return Batch{}, false
	}
	if !p.all.first.IsZero() && !now.Before(p.due(p.all)) {
		p.reset()
		return Batch{All: true}, true
	}
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !p.all.first.IsZero() {
		later(p.due(p.all))
	}
	for rel, s := range p.dirs {
		d := p.due(s)
		if now.Before(d) {
			later(d)
			continue
		}
		b.Dirs = append(b.Dirs, rel)
		delete(p.dirs, rel)
	}
	p.next = next
	if len(p.dirs) == 0 {
		p.clearDirs()
	}
	if len(b.Dirs) == 0 {
		return Batch{}, false
	}
	slices.Sort(b.Dirs)
	return b, true
}

package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// folderRun is one target folder's plan and its execution. Exactly one
// goroutine owns a folderRun (and its target folder) at a time.
type folderRun struct {
	u       *unit
	abs     string // target folder, absolute
	plan    folderPlan
	srcErr  bool          // a library file of this folder could not be read
	renamed bool          // installs were renamed into place, not yet committed
	moves   []PlanItem    // a dry run's planned moves into this folder
	helpers []*copier     // the worker's helpers (Options.Parallel), made on first use
	mu      stdsync.Mutex // guards srcErr while helpers stage

	// moved: installed name -> where the device moved it (moved.go).
	moved map[string]string
}

func (fr *folderRun) hasCopies() bool {
	for _, a := range fr.plan.Actions {
		if a.Kind == KindCopy || a.Kind == KindReplace || a.Kind == KindForget {
			return true
		}
	}
	return false
}

// copiers returns n copiers for the folder's files in flight: the
// worker's own c, then its helpers.
func (fr *folderRun) copiers(c *copier, n int) []*copier {
	for len(fr.helpers) < n-1 {
		fr.helpers = append(fr.helpers, c.helper())
	}
	return append([]*copier{c}, fr.helpers[:n-1]...)
}

// inFlight runs do(c, i) for every i < count, on up to n of the folder's
// copiers at once (one by one on the worker's own c when n ≤ 1), each
// copier taking the next index; once a do returns false no copier takes
// another. It returns when every do has.
func (fr *folderRun) inFlight(c *copier, n, count int, do func(c *copier, i int) bool) {
	if n <= 1 || count <= 1 {
		for i := range count {
			if !do(c, i) {
				return
			}
		}
		return
	}
	var next atomic.Int64
	var stop atomic.Bool
	var wg stdsync.WaitGroup
	for _, c := range fr.copiers(c, min(n, count)) {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				if !do(c, i) {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
}

// noteSrcErr records that a library file of the folder could not be read.
func (fr *folderRun) noteSrcErr() {
	fr.mu.Lock()
	fr.srcErr = true
	fr.mu.Unlock()
}

// hasSources reports whether an action of the plan reads a library file.
func (fr *folderRun) hasSources() bool {
	for _, a := range fr.plan.Actions {
		if a.Src != nil {
			return true
		}
	}
	return false
}

// work is the number of files and bytes the folder will copy.
func (fr *folderRun) work() (int, int64) {
	n, b := 0, int64(0)
	for _, a := range fr.plan.Actions {
		if a.Src != nil {
			n++
			b += a.Src.installSize()
		}
	}
	return n, b
}

func (fr *folderRun) report(rep *Report, dry bool, moved map[string]bool) {
	rep.add(func(r *Report) {
		r.Unchanged += fr.plan.Unchanged
		r.Moved += len(fr.moved)
		r.Conflicts = append(r.Conflicts, fr.plan.Conflicts...)
		r.Skipped = append(r.Skipped, fr.u.Skipped...)
		if !dry {
			return
		}
		r.Plan = append(r.Plan, fr.moves...)
		for _, a := range fr.plan.Actions {
			if a.Kind == KindForget || a.Kind == KindDelete && moved[join(fr.u.Dir, a.Name)] {
				continue
			}
			it := PlanItem{Kind: a.Kind, Path: join(fr.u.Dir, a.Name), Reason: a.Reason}
			if a.Src != nil {
				it.Source = a.Src.Rel
				it.Bytes = a.Src.installSize()
			}
			r.Plan = append(r.Plan, it)
		}
		for _, c := range fr.plan.Conflicts {
			r.Plan = append(r.Plan, PlanItem{Kind: KindConflict, Path: c.Target, Source: c.Path, Reason: c.Reason})
		}
	})
}

// fileError reports a file of the folder that failed.
func (fr *folderRun) fileError(rep *Report, a action, err error) {
	rep.add(func(r *Report) {
		r.Errors = append(r.Errors, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: err.Error()})
	})
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// targetErr classifies an error of an operation on the target. Besides
// what outcome.OfTarget recognises, any failure while the target's marker
// is gone means the card was pulled or unmounted (its empty mount point
// answers ENOENT): that stops the profile instead of being reported per
// file, or dropped.
func (s *Session) targetErr(dir string, err error) error {
	err = outcome.OfTarget(dir, err)
	if err == nil || outcome.Fatal(err) {
		return err
	}
	if oerr := s.target.Offline(); oerr != nil {
		return fmt.Errorf("%w (%v)", oerr, err)
	}
	return err
}

// planFolder lists the target folder, cleans up what a killed run left,
// resolves interrupted installs and plans the folder.
func (s *Session) planFolder(u *unit, cp chan *copier, hashed *atomic.Int64) (*folderRun, error) {
	abs, err := cardstate.SafeDir(s.target.Root(), u.Dir)
	if err != nil {
		return nil, err
	}
	fr := &folderRun{u: u, abs: abs}
	listing, err := listTarget(abs)
	if err != nil {
		return nil, outcome.OfTarget(abs, err)
	}
	for name, st := range listing {
		if cardstate.IsTemp(name) && !st.Dir {
			delete(listing, name)
			if !s.opts.DryRun {
				if err := os.Remove(filepath.Join(abs, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, outcome.OfTarget(abs, fmt.Errorf("remove stale temp file %s: %w", filepath.Join(abs, name), err))
				}
				s.log.Debug("removed stale temp file", "profile", s.opts.Profile, "path", join(u.Dir, name))
			}
		}
	}
	if len(listing) == 0 && s.target.Count(u.Dir) > 0 {
		// Every installed file gone at once: is the card still there?
		if err := s.target.Offline(); err != nil {
			return nil, err
		}
	}
	if err := s.findMoved(fr, listing, cp, hashed); err != nil {
		return nil, err
	}
	if !s.opts.DryRun {
		if err := s.recoverPending(u.Dir, abs, listing, cp, hashed); err != nil {
			return nil, err
		}
	}
	s.dropSameContent(u, cp, hashed)
	fr.plan = plan(planInput{
		Dir: u.Dir, Sources: u.Sources, Manifest: s.target.Entries(u.Dir), Listing: listing,
		Key: s.names.Key, SameTime: s.sameTime, Delete: s.opts.Delete, Complete: true,
	})
	return fr, nil
}

func (s *Session) sameTime(recorded, now int64) bool {
	d := recorded - now
	if d < 0 {
		d = -d
	}
	if d <= int64(s.opts.ModifyWindow) {
		return true
	}
	if s.opts.DSTTolerance {
		d -= int64(time.Hour)
		if d < 0 {
			d = -d
		}
		return d <= int64(s.opts.ModifyWindow)
	}
	return false
}

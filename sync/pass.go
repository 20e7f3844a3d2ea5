package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/romsyncd/romsyncd/sync/outcome"
)

// unit is one target folder and the library folders that feed it.
type unit struct {
	Dir     string   // target folder
	SrcDirs []string // library folders feeding it
	Sources []srcFile
	Skipped []Item
	Discs   *discPlaces // where this pass puts disc files and playlists (multidisc.go)
}

// Scope says what a pass covers: everything, or some library folders.
type Scope struct {
	All  bool
	Dirs []string // library folders, relative, slash-separated
}

// Pass brings the folders in scope in line with the library and reports
// what it did. A profile-level failure (target offline or full, source
// offline, too many deletions) is returned as the error and in the report.
func (s *Session) Pass(ctx context.Context, scope Scope) (*Report, error) {
	start := time.Now()
	rep := &Report{Profile: s.opts.Profile, Source: s.opts.Source, Target: s.opts.Target, DryRun: s.opts.DryRun, Created: s.target.Created()}
	if s.target.Released() {
		if err := s.target.Reacquire(); err != nil {
			rep.setError(err)
			rep.finish(start)
			return rep, err
		}
		if err := s.healed(ctx); err != nil {
			rep.setError(err)
			rep.finish(start)
			return rep, err
		}
	}
	err := s.pass(ctx, scope, rep)
	if ferr := s.target.FinishInflight(); ferr != nil && err == nil && !s.opts.DryRun {
		err = s.targetErr(s.target.Root(), ferr)
	}
	rep.setError(err)
	s.target.ClearCreated() // reported once, by the session's first pass
	rep.finish(start)
	return rep, err
}

// pass runs the steps of a pass: check that the library and the card are
// there, collect the library folders in scope, plan every target folder,
// install the copies (one worker per folder), then mirror deletions.
func (s *Session) pass(ctx context.Context, scope Scope, rep *Report) error {
	if err := s.checkPresent(); err != nil {
		return err
	}
	units, srcErr, err := s.collect(scope, rep)
	if err != nil {
		return err
	}
	if scope.All && !srcErr && s.target.Installed() > 0 && sourceEmpty(units) {
		return fmt.Errorf("source %s: %w: it holds no files while the target lists %d installed ones; nothing is deleted (is the library mounted?)", s.opts.Source, outcome.ErrSourceOffline, s.target.Installed())
	}
	var hashed atomic.Int64
	defer func() { rep.HashedBytes += hashed.Load() }()
	var share *shareMember
	if !s.opts.DryRun {
		share = s.opts.Share.join(s.opts.Source)
		defer share.leave()
	}
	cp := make(chan *copier, s.opts.Workers)
	for range s.opts.Workers {
		c := newCopier(s.opts.Source, s.opts.PerFileSync && !s.opts.VolumeSync, s.opts.MaxFileSize, &hashed)
		c.volumeSync = s.opts.VolumeSync
		c.noChmod = s.opts.NoPermissions
		c.share = share
		if sp, ok := s.opts.Progress.(StreamProgress); ok {
			c.progress = sp.Copying
		}
		cp <- c
	}
	planned, planErr, err := s.planAll(units, cp, &hashed, rep)
	if err != nil {
		return err
	}
	srcErr = srcErr || planErr
	share.plan(ctx, copiesOf(planned))
	if !s.opts.DryRun {
		installErr, err := s.installAll(ctx, planned, cp, rep)
		if err != nil {
			return err
		}
		srcErr = srcErr || installErr
	}
	if err := s.deletes(ctx, planned, srcErr, rep); err != nil {
		return err
	}
	if scope.All && !s.opts.DryRun {
		// Folders romsyncd created and a killed run left empty go now.
		for _, d := range s.target.EmptyCreated() {
			s.pruneCreated(d)
		}
	}
	return nil
}

// checkPresent refuses a pass when the library root is empty while the
// card holds installed files, or when the card's marker is gone.
func (s *Session) checkPresent() error {
	empty, err := sourceIsEmpty(s.opts.Source)
	if err != nil {
		return err
	}
	// A library root with nothing in it while the card holds installed
	// files is an unmounted NAS or a wrong path, whatever the scope: a
	// folder-scoped pass of a vanished folder must not delete either.
	if empty && s.target.Installed() > 0 {
		return fmt.Errorf("source %s: %w: it is empty while the target lists %d installed files; nothing is deleted (is the library mounted?)", s.opts.Source, outcome.ErrSourceOffline, s.target.Installed())
	}
	if !s.opts.DryRun && !s.target.Online() {
		return fmt.Errorf("target %s: %w: its marker is gone (card removed?)", s.opts.Target, outcome.ErrTargetOffline)
	}
	return nil
}

// planAll plans every folder first, so the progress bar knows the total
// and the deletion guard sees the whole pass. Moves inside the library
// become moves on the target here, before any worker owns a folder.
// srcErr reports a folder that could not be planned.
func (s *Session) planAll(units []*unit, cp chan *copier, hashed *atomic.Int64, rep *Report) (planned []*folderRun, srcErr bool, err error) {
	s.dryMoved = map[string]bool{}
	frs := make([]*folderRun, len(units))
	perrs := make([]error, len(units))
	var pg errgroup.Group
	pg.SetLimit(listers(s.opts.Workers))
	for i, u := range units {
		pg.Go(func() error {
			frs[i], perrs[i] = s.planFolder(u, cp, hashed)
			if perrs[i] == nil && !frs[i].hasSources() {
				u.Sources = nil // nothing to copy: the listing can go
			}
			return nil
		})
	}
	_ = pg.Wait()
	var renames *renameIndex
	var renameBuf []byte
	if newFiles(frs) {
		renames = s.buildRenameIndex() // a no-op pass needs none
		renameBuf = make([]byte, bufSize)
	}
	for i, u := range units {
		fr, perr := frs[i], perrs[i]
		if perr == nil {
			perr = s.tryRenames(fr, renames, renameBuf, hashed, rep)
		}
		if perr != nil {
			if outcome.Fatal(perr) {
				return nil, false, perr
			}
			rep.add(func(r *Report) { r.Errors = append(r.Errors, Item{Path: u.Dir, Target: u.Dir, Reason: perr.Error()}) })
			srcErr = true
			continue
		}
		s.dropKeptDeletes(fr)
		planned = append(planned, fr)
	}
	s.fit(planned, rep)
	var files int
	var bytes int64
	for _, fr := range planned {
		f, b := fr.work()
		files += f
		bytes += b
		fr.report(rep, s.opts.DryRun, s.dryMoved)
	}
	if s.opts.Progress != nil {
		s.opts.Progress.Planned(files, bytes)
	}
	return planned, srcErr, nil
}

// installAll hands each folder with copies to one worker. A target-wide
// failure stops every worker and is returned; srcErr reports a library
// file that could not be read.
func (s *Session) installAll(ctx context.Context, planned []*folderRun, cp chan *copier, rep *Report) (srcErr bool, err error) {
	var fatal atomic.Pointer[error]
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Workers)
	for _, fr := range planned {
		if !fr.hasCopies() {
			if err := fr.forget(s.target); err != nil {
				return false, err
			}
			continue
		}
		g.Go(func() error {
			if fatal.Load() != nil {
				return nil
			}
			c := <-cp
			defer func() { cp <- c }()
			// install reports a folder's own failures itself; what it
			// returns stops the pass: the target as a whole, or the end.
			ferr := fr.install(gctx, s, c, rep)
			if ferr != nil && outcome.Fatal(ferr) {
				fatal.CompareAndSwap(nil, &ferr)
			}
			return ferr
		})
	}
	if err := g.Wait(); err != nil {
		if p := fatal.Load(); p != nil {
			return false, *p
		}
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	for _, fr := range planned {
		srcErr = srcErr || fr.srcErr
	}
	return srcErr, nil
}

func sourceEmpty(units []*unit) bool {
	for _, u := range units {
		if len(u.Sources) > 0 || len(u.Skipped) > 0 {
			return false
		}
	}
	return true
}

// newFiles reports whether a plan copies a file new to its folder: only
// those can be renames of installed files.
func newFiles(frs []*folderRun) bool {
	for _, fr := range frs {
		if fr == nil {
			continue
		}
		for _, a := range fr.plan.Actions {
			if a.Kind == KindCopy && a.Reason == "new" {
				return true
			}
		}
	}
	return false
}

// copiesOf lists the library files the plans copy.
func copiesOf(planned []*folderRun) []*srcFile {
	var out []*srcFile
	for _, fr := range planned {
		for _, a := range fr.plan.Actions {
			if a.Src != nil && a.Src.Content == nil && a.Src.Member == "" {
				out = append(out, a.Src)
			}
		}
	}
	return out
}

package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// deleteActions are the folder's planned deletions.
func (fr *folderRun) deleteActions() []action {
	var out []action
	for _, a := range fr.plan.Actions {
		if a.Kind == KindDelete {
			out = append(out, a)
		}
	}
	return out
}

// dropKeptDeletes takes out of the plan the deletions of files whose
// library file is still there — excluded by the profile now, or skipped for
// its name or size: they are kept on the card, so they are neither planned
// (a dry run shows what the pass does) nor counted against max_delete.
func (s *Session) dropKeptDeletes(fr *folderRun) {
	kept := fr.plan.Actions[:0]
	for _, a := range fr.plan.Actions {
		if a.Kind == KindDelete {
			if e := s.target.Entry(fr.u.Dir, a.Name); e != nil {
				if _, err := os.Lstat(filepath.Join(s.opts.Source, filepath.FromSlash(e.Source))); !errors.Is(err, fs.ErrNotExist) && !fr.u.discMoved(fr.u.Dir, a.Name, e.Source) {
					continue
				}
			}
		}
		kept = append(kept, a)
	}
	fr.plan.Actions = kept
}

// pendingDeletes are the planned deletions whose file is still recorded
// (a move found while planning may have taken it; in a dry run, moved
// lists what the plan moves).
func (fr *folderRun) pendingDeletes(t *cardstate.State, moved map[string]bool) []action {
	var out []action
	for _, a := range fr.deleteActions() {
		if t.Entry(fr.u.Dir, a.Name) != nil && !moved[join(fr.u.Dir, a.Name)] {
			out = append(out, a)
		}
	}
	return out
}

// deletes removes what the library no longer has, after every copy, and
// only when the whole pass read the library without error and stays within
// max_delete.
func (s *Session) deletes(ctx context.Context, planned []*folderRun, srcErr bool, rep *Report) error {
	n := 0
	for _, fr := range planned {
		n += len(fr.pendingDeletes(s.target, s.dryMoved))
	}
	if n == 0 {
		return nil
	}
	installed := s.target.Installed()
	switch {
	case srcErr:
		rep.DeletesHeld = fmt.Sprintf("%d deletion(s) skipped: the library could not be read completely in this pass", n)
		return nil
	case s.opts.MaxDelete != nil && !s.opts.MaxDelete.Allows(n, installed):
		rep.DeletesHeld = fmt.Sprintf("%d deletion(s) of %d installed files exceed max_delete %s", n, installed, s.opts.MaxDelete)
		return fmt.Errorf("%w: the pass would delete %d of %d installed files, more than max_delete %s allows; nothing was deleted (raise max_delete if this is intended)", outcome.ErrTooManyDeletes, n, installed, s.opts.MaxDelete)
	}
	for _, fr := range planned {
		if s.opts.DryRun {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fr.delete(s, rep); err != nil {
			return err
		}
	}
	return nil
}

// delete removes what the library no longer has from one folder. Each
// file is checked again just before: the library still lacks it, and the
// target still holds exactly what romsyncd installed.
func (fr *folderRun) delete(s *Session, rep *Report) error {
	dels := fr.deleteActions()
	if len(dels) == 0 {
		return nil
	}
	t, dir := s.target, fr.u.Dir
	removed := 0
	for _, a := range dels {
		e := t.Entry(dir, a.Name)
		if e == nil {
			continue
		}
		if _, err := os.Lstat(filepath.Join(s.opts.Source, filepath.FromSlash(e.Source))); !errors.Is(err, fs.ErrNotExist) && !fr.u.discMoved(dir, a.Name, e.Source) {
			continue // back in the library (or unreadable): keep it
		}
		p := fr.pathOf(a)
		info, err := os.Lstat(p)
		if err != nil || !info.Mode().IsRegular() || info.Size() != e.Target.Size || !s.sameTime(e.Target.Mtime, info.ModTime().UnixNano()) {
			if oerr := t.Offline(); oerr != nil {
				return oerr // gone with the card: still owned
			}
			t.Set(dir, a.Name, nil)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if cerr := outcome.OfTarget(fr.abs, err); outcome.Fatal(cerr) {
				return cerr
			}
			rep.add(func(r *Report) {
				r.Errors = append(r.Errors, Item{Path: e.Source, Target: join(dir, a.Name), Reason: err.Error()})
			})
			continue
		}
		t.Set(dir, a.Name, nil)
		removed++
		s.log.Debug("deleted", "profile", s.opts.Profile, "path", join(dir, a.Name))
	}
	rep.add(func(r *Report) { r.Deleted += removed })
	if removed > 0 {
		if err := cardstate.FsyncDir(fr.abs); err != nil {
			return outcome.OfTarget(fr.abs, err)
		}
		if err := fr.fsyncMoved(s, KindDelete); err != nil {
			return err
		}
	}
	if err := t.Save(dir, false); err != nil {
		return outcome.OfTarget(fr.abs, err)
	}
	s.pruneCreated(dir)
	return nil
}

// pruneCreated removes folder dir, then its parents, as long as each is a
// folder romsyncd created that now holds nothing at all.
func (s *Session) pruneCreated(dir string) {
	t := s.target
	for dir != "." && dir != "" {
		if !t.CreatedEmpty(dir) {
			return
		}
		abs, err := cardstate.SafeDir(t.Root(), dir)
		if err != nil {
			return
		}
		if ents, err := os.ReadDir(abs); err != nil || len(ents) > 0 || os.Remove(abs) != nil {
			return
		}
		_ = cardstate.FsyncDir(filepath.Dir(abs))
		t.SetCreated(dir, false)
		_ = t.Save(dir, false) // removes its manifest
		dir = path.Dir(dir)
	}
}

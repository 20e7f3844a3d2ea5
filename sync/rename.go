package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// A file moved or renamed in the library is moved on the target instead of
// being copied again, when romsyncd can prove it is the same file: same
// size and mtime as an installed file whose library path is gone, and the
// same content hash (the library file is read once, never written twice).

type renameSig struct{ size, mtime int64 }

type renameRef struct{ dir, name string }

// renameIndex finds installed files by library size and mtime. It is built
// once per pass, from the manifests, before any worker runs.
type renameIndex struct {
	bySig map[renameSig][]renameRef
}

func (s *Session) buildRenameIndex() *renameIndex {
	idx := &renameIndex{bySig: map[renameSig][]renameRef{}}
	s.target.Range(func(dir, name string, e *cardstate.Entry) {
		if !e.Installed() || e.Pending != nil || e.SrcSize == 0 {
			return
		}
		k := renameSig{e.SrcSize, e.SrcMtime}
		idx.bySig[k] = append(idx.bySig[k], renameRef{dir, name})
	})
	return idx
}

// tryRenames turns planned copies of new files into moves of installed
// files where possible. It runs while planning, before the workers start,
// so it may touch two folders.
func (s *Session) tryRenames(fr *folderRun, idx *renameIndex, buf []byte, hashed *atomic.Int64, rep *Report) error {
	if idx == nil || len(idx.bySig) == 0 {
		return nil
	}
	kept := fr.plan.Actions[:0]
	for _, a := range fr.plan.Actions {
		if a.Kind != KindCopy || a.Reason != "new" || a.Src == nil || a.Src.Content != nil {
			kept = append(kept, a)
			continue
		}
		moved, err := s.tryRename(fr, a, idx, buf, hashed)
		if err != nil {
			return err
		}
		if !moved {
			kept = append(kept, a)
			continue
		}
		rep.add(func(r *Report) { r.Renamed++ })
	}
	fr.plan.Actions = kept
	return nil
}

func (s *Session) tryRename(fr *folderRun, a action, idx *renameIndex, buf []byte, hashed *atomic.Int64) (bool, error) {
	sig := renameSig{a.Src.Size, a.Src.Mtime}
	refs := idx.bySig[sig]
	if len(refs) == 0 {
		return false, nil
	}
	t := s.target
	var hash cardstate.Hash
	hashed2 := false
	for i, ref := range refs {
		e := t.Entry(ref.dir, ref.name)
		if e == nil || !e.Installed() {
			continue
		}
		// The installed file's library path must be gone (or go elsewhere in
		// this pass: a multi-disc game's new shape): otherwise this is a
		// copy, not a move.
		if _, err := os.Lstat(filepath.Join(s.opts.Source, filepath.FromSlash(e.Source))); !errors.Is(err, fs.ErrNotExist) && !fr.u.discMoved(ref.dir, ref.name, e.Source) {
			continue
		}
		oldDir, err := cardstate.SafeDir(t.Root(), ref.dir)
		if err != nil {
			continue
		}
		oldPath := filepath.Join(oldDir, ref.name)
		info, err := os.Lstat(oldPath)
		if err != nil || !info.Mode().IsRegular() || info.Size() != e.Target.Size || !s.sameTime(e.Target.Mtime, info.ModTime().UnixNano()) {
			continue
		}
		if !hashed2 {
			h, n, err := hashSource(s.opts.Source, a.Src, buf, hashed)
			if err != nil || n != a.Src.installSize() {
				return false, nil // the copy will report a read problem
			}
			hash, hashed2 = h, true
		}
		if hash != e.Target.Hash {
			continue
		}
		if s.opts.DryRun {
			s.planMove(fr, a, ref)
		} else if err := s.moveInstalled(fr, a, ref, e, oldPath, hash); err != nil {
			return false, err
		}
		idx.bySig[sig] = append(refs[:i:i], refs[i+1:]...)
		return true, nil
	}
	return false, nil
}

// moveInstalled moves an installed file to its new name, recording the
// move as pending first so a crash in between never orphans the file.
func (s *Session) moveInstalled(fr *folderRun, a action, ref renameRef, e *cardstate.Entry, oldPath string, hash cardstate.Hash) error {
	t, dir := s.target, fr.u.Dir
	if err := fr.ensureDir(s); err != nil {
		return err
	}
	newPath := filepath.Join(fr.abs, a.Name)
	t.Set(dir, a.Name, &cardstate.Entry{Pending: &cardstate.PendingInstall{Source: a.Src.Rel, SrcSize: a.Src.Size, SrcMtime: a.Src.Mtime, Size: e.Target.Size, Hash: hash}})
	if err := t.Save(dir, true); err != nil {
		return outcome.OfTarget(fr.abs, err)
	}
	if err := renameNoReplace(oldPath, newPath); err != nil {
		t.Set(dir, a.Name, nil)
		if serr := t.Save(dir, false); serr != nil {
			return outcome.OfTarget(fr.abs, serr)
		}
		if cerr := outcome.OfTarget(fr.abs, err); outcome.Fatal(cerr) {
			return cerr
		}
		s.log.Debug("rename on target failed, copying instead", "profile", s.opts.Profile, "from", join(ref.dir, ref.name), "to", join(dir, a.Name), "err", err)
		return nil
	}
	if err := cardstate.FsyncDir(fr.abs); err != nil {
		return outcome.OfTarget(fr.abs, err)
	}
	if oldDir := filepath.Dir(oldPath); oldDir != fr.abs {
		if err := cardstate.FsyncDir(oldDir); err != nil {
			return outcome.OfTarget(oldDir, err)
		}
	}
	info, err := os.Lstat(newPath)
	if err != nil {
		return outcome.OfTarget(fr.abs, fmt.Errorf("stat %s: %w", newPath, err))
	}
	t.Set(dir, a.Name, &cardstate.Entry{Source: a.Src.Rel, SrcSize: a.Src.Size, SrcMtime: a.Src.Mtime,
		Target: cardstate.Version{Size: info.Size(), Mtime: info.ModTime().UnixNano(), Hash: hash}})
	t.Set(ref.dir, ref.name, nil)
	if err := t.Save(dir, false); err != nil {
		return outcome.OfTarget(fr.abs, err)
	}
	if ref.dir != dir {
		if err := t.Save(ref.dir, false); err != nil {
			return outcome.OfTarget(fr.abs, err)
		}
		// A folder romsyncd created and the move emptied goes too.
		s.pruneCreated(ref.dir)
	}
	s.log.Debug("renamed", "profile", s.opts.Profile, "from", join(ref.dir, ref.name), "to", join(dir, a.Name))
	return nil
}

// planMove records, in a dry run, the move a pass would make: reported as
// one rename, not as a copy and a delete.
func (s *Session) planMove(fr *folderRun, a action, ref renameRef) {
	from := join(ref.dir, ref.name)
	s.dryMoved[from] = true
	fr.moves = append(fr.moves, PlanItem{Kind: KindRename, Path: join(fr.u.Dir, a.Name), Source: a.Src.Rel, Bytes: a.Src.Size, Reason: "from " + from})
}

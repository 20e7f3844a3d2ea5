package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// folderRun is one target folder's plan and its execution. Exactly one
// goroutine owns a folderRun (and its target folder) at a time.
type folderRun struct {
	u       *unit
	abs     string // target folder, absolute
	plan    folderPlan
	srcErr  bool // a library file of this folder could not be read
	renamed bool // installs were renamed into place, not yet committed
}

func (fr *folderRun) hasCopies() bool {
	for _, a := range fr.plan.Actions {
		if a.Kind == KindCopy || a.Kind == KindReplace || a.Kind == KindForget {
			return true
		}
	}
	return false
}

func (fr *folderRun) deleteActions() []action {
	var out []action
	for _, a := range fr.plan.Actions {
		if a.Kind == KindDelete {
			out = append(out, a)
		}
	}
	return out
}

// work is the number of files and bytes the folder will copy.
func (fr *folderRun) work() (int, int64) {
	n, b := 0, int64(0)
	for _, a := range fr.plan.Actions {
		if a.Src != nil {
			n++
			b += a.Src.Size
		}
	}
	return n, b
}

func (fr *folderRun) report(rep *Report, dry bool) {
	rep.add(func(r *Report) {
		r.Unchanged += fr.plan.Unchanged
		r.Conflicts = append(r.Conflicts, fr.plan.Conflicts...)
		r.Skipped = append(r.Skipped, fr.u.Skipped...)
		if !dry {
			return
		}
		for _, a := range fr.plan.Actions {
			if a.Kind == KindForget {
				continue
			}
			it := PlanItem{Kind: a.Kind, Path: join(fr.u.Dir, a.Name), Reason: a.Reason}
			if a.Src != nil {
				it.Source = a.Src.Rel
				it.Bytes = a.Src.Size
			}
			r.Plan = append(r.Plan, it)
		}
		for _, c := range fr.plan.Conflicts {
			r.Plan = append(r.Plan, PlanItem{Kind: KindConflict, Path: c.Target, Source: c.Path, Reason: c.Reason})
		}
	})
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// targetErr classifies an error of an operation on the target. Besides
// what classifyTargetErr recognises, any failure while the target's marker
// is gone means the card was pulled or unmounted (its empty mount point
// answers ENOENT): that stops the profile instead of being reported per
// file, or dropped.
func (s *Session) targetErr(dir string, err error) error {
	err = classifyTargetErr(dir, err)
	if err == nil || targetFatal(err) {
		return err
	}
	if oerr := s.target.offline(); oerr != nil {
		return fmt.Errorf("%w (%v)", oerr, err)
	}
	return err
}

// safeDir returns the absolute target folder for dir, refusing any path
// whose components below the target root are links or files: a link on the
// card must never let romsyncd write outside it.
func safeDir(root, dir string) (string, error) {
	if dir == "." {
		return root, nil
	}
	p := root
	for _, c := range strings.Split(dir, "/") {
		p = filepath.Join(p, c)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // created when needed
		}
		if err != nil {
			return "", fmt.Errorf("target folder %s: %w", p, err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("target folder %s: a file or link is in the way; romsyncd writes only into real folders", p)
		}
	}
	return filepath.Join(root, filepath.FromSlash(dir)), nil
}

// planFolder lists the target folder, cleans up what a killed run left,
// resolves interrupted installs and plans the folder.
func (s *Session) planFolder(u *unit, cp chan *copier, hashed *atomic.Int64) (*folderRun, error) {
	abs, err := safeDir(s.target.Root, u.Dir)
	if err != nil {
		return nil, err
	}
	fr := &folderRun{u: u, abs: abs}
	listing, err := listTarget(abs)
	if err != nil {
		return nil, classifyTargetErr(abs, err)
	}
	for name, st := range listing {
		if strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix) && !st.Dir {
			delete(listing, name)
			if !s.opts.DryRun {
				if err := os.Remove(filepath.Join(abs, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, classifyTargetErr(abs, fmt.Errorf("remove stale temp file %s: %w", filepath.Join(abs, name), err))
				}
				s.log.Debug("removed stale temp file", "profile", s.opts.Profile, "path", join(u.Dir, name))
			}
		}
	}
	f := s.target.folder(u.Dir)
	s.target.mu.Lock()
	known := len(f.Files)
	s.target.mu.Unlock()
	if len(listing) == 0 && known > 0 {
		// Every installed file gone at once: is the card still there?
		if err := s.target.offline(); err != nil {
			return nil, err
		}
	}
	if !s.opts.DryRun {
		if err := s.recoverPending(f, abs, listing, cp, hashed); err != nil {
			return nil, err
		}
	}
	s.target.mu.Lock()
	man := make(map[string]*Entry, len(f.Files))
	for k, v := range f.Files {
		man[k] = v
	}
	s.target.mu.Unlock()
	fr.plan = plan(planInput{
		Dir: u.Dir, Sources: u.Sources, Manifest: man, Listing: listing,
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

// recoverPending decides, by content, what an install interrupted between
// its manifest record and its rename left under the final name.
func (s *Session) recoverPending(f *Folder, abs string, listing map[string]targetStat, cp chan *copier, hashed *atomic.Int64) error {
	changed := false
	for name, e := range f.Files {
		if e.Pending == nil {
			continue
		}
		changed = true
		pend := e.Pending
		st, ok := listing[name]
		if !ok || st.Dir {
			s.setEntry(f, name, pendingCleared(e))
			continue
		}
		c := <-cp
		h, n, err := hashFile(filepath.Join(abs, name), c.buf, hashed)
		cp <- c
		if err != nil {
			return classifyTargetErr(abs, err)
		}
		switch {
		case h == pend.Hash && n == pend.Size:
			s.setEntry(f, name, &Entry{Source: pend.Source, SrcSize: pend.SrcSize, SrcMtime: pend.SrcMtime,
				Target: Version{Size: st.Size, Mtime: st.Mtime, Hash: h}})
		case e.installed() && h == e.Target.Hash:
			s.setEntry(f, name, pendingCleared(e))
		default:
			// Neither version: if it was ours, the plan repairs it; if the
			// name was new, the file is not ours.
			s.setEntry(f, name, pendingCleared(e))
		}
	}
	if !changed {
		return nil
	}
	return classifyTargetErr(abs, s.target.saveManifestLocked(f, true))
}

func pendingCleared(e *Entry) *Entry {
	if !e.installed() {
		return nil
	}
	c := *e
	c.Pending = nil
	return &c
}

// setEntry sets (or with nil removes) a manifest entry.
func (s *Session) setEntry(f *Folder, name string, e *Entry) {
	s.target.mu.Lock()
	defer s.target.mu.Unlock()
	if e == nil {
		delete(f.Files, name)
	} else {
		f.Files[name] = e
	}
}

// saveManifestLocked encodes the manifest under the target's lock (readers
// such as installedCount run concurrently) and writes it.
func (t *Target) saveManifestLocked(f *Folder, durable bool) error {
	// One write of a folder's manifest at a time, so the last one written
	// is the last snapshot taken.
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	t.mu.Lock()
	snapshot := &Folder{Dir: f.Dir, Created: f.Created, Files: make(map[string]*Entry, len(f.Files))}
	for k, v := range f.Files {
		snapshot.Files[k] = v
	}
	t.mu.Unlock()
	return t.saveManifest(snapshot, durable)
}

// forget applies the plan's manifest-only changes of a folder without copies.
func (fr *folderRun) forget(t *Target) error {
	f := t.folder(fr.u.Dir)
	changed := false
	for _, a := range fr.plan.Actions {
		if a.Kind == KindForget {
			t.mu.Lock()
			delete(f.Files, a.Name)
			t.mu.Unlock()
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return classifyTargetErr(fr.abs, t.saveManifestLocked(f, false))
}

// install copies the folder's new and changed files in batches: stage each
// into a temp file, make the batch durable, verify every file by reading it
// back, record the pending installs, rename them over their final names,
// fsync the folder, and record what is now installed.
//
// Like a file's own failure, a failure of the folder that does not stop the
// profile (its fsync, its manifest, a file in the way of the folder) is
// reported in rep.Errors, and the pass goes on with the other folders; only
// target-wide failures and the context's error are returned.
func (fr *folderRun) install(ctx context.Context, s *Session, c *copier, rep *Report) error {
	err := fr.installFolder(ctx, s, c, rep)
	if err == nil || targetFatal(err) || ctx.Err() != nil {
		return err
	}
	rep.add(func(r *Report) {
		r.Errors = append(r.Errors, Item{Path: fr.u.Dir, Target: fr.u.Dir, Reason: err.Error()})
	})
	return nil
}

func (fr *folderRun) installFolder(ctx context.Context, s *Session, c *copier, rep *Report) error {
	t := s.target
	f := t.folder(fr.u.Dir)
	if err := fr.forget(t); err != nil {
		return err
	}
	var copies []action
	for _, a := range fr.plan.Actions {
		if a.Kind == KindCopy || a.Kind == KindReplace {
			copies = append(copies, a)
		}
	}
	if len(copies) == 0 {
		return nil
	}
	if err := fr.ensureDir(s, f); err != nil {
		return err
	}
	for len(copies) > 0 {
		var batch []action
		var size int64
		for len(copies) > 0 && len(batch) < batchFiles && (len(batch) == 0 || size+copies[0].Src.Size <= batchBytes) {
			size += copies[0].Src.Size
			batch = append(batch, copies[0])
			copies = copies[1:]
		}
		if err := fr.installBatch(ctx, s, c, f, batch, rep); err != nil {
			if cerr := fr.commitFolder(s, f); cerr != nil && !targetFatal(err) {
				return cerr
			}
			return err
		}
	}
	return fr.commitFolder(s, f)
}

func (fr *folderRun) ensureDir(s *Session, f *Folder) error {
	if fr.u.Dir == "." {
		return nil
	}
	if _, err := os.Lstat(fr.abs); err == nil {
		return s.targetErr(fr.abs, s.target.noteInflight(fr.u.Dir, false))
	}
	// A folder missing on a pulled card is its empty mount point's.
	if err := s.target.offline(); err != nil {
		return err
	}
	// Record every component about to be created before creating it, so
	// a run killed in between still knows they are romsyncd's.
	comps := strings.Split(fr.u.Dir, "/")
	for i := range comps {
		rel := strings.Join(comps[:i+1], "/")
		if _, err := os.Lstat(filepath.Join(s.target.Root, filepath.FromSlash(rel))); err == nil {
			continue
		}
		if err := s.target.noteInflight(rel, true); err != nil {
			return s.targetErr(s.target.Root, err)
		}
	}
	// Create the missing components one by one, re-checking for links.
	// Each folder romsyncd creates is recorded as its own, so that it can
	// go again once the library no longer fills it (parents included).
	p := s.target.Root
	for i, comp := range comps {
		p = filepath.Join(p, comp)
		err := os.Mkdir(p, 0o755)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return s.targetErr(s.target.Root, fmt.Errorf("create folder %s: %w", p, err))
		}
		if st, lerr := os.Lstat(p); lerr != nil || !st.IsDir() {
			return fmt.Errorf("target folder %s: a file or link is in the way", p)
		}
		if err == nil && i < len(comps)-1 {
			pf := s.target.folder(strings.Join(comps[:i+1], "/"))
			s.target.mu.Lock()
			pf.Created = true
			s.target.mu.Unlock()
			if err := s.target.saveManifestLocked(pf, false); err != nil {
				return s.targetErr(s.target.Root, err)
			}
		}
	}
	s.target.mu.Lock()
	f.Created = true
	s.target.mu.Unlock()
	return s.targetErr(fr.abs, fsyncDir(filepath.Dir(fr.abs)))
}

func (fr *folderRun) installBatch(ctx context.Context, s *Session, c *copier, f *Folder, batch []action, rep *Report) error {
	t := s.target
	// Each batch starts on a target that is still there: in the empty
	// mount point of a pulled card, temp files could be created.
	if err := t.offline(); err != nil {
		return err
	}
	var temps []staged
	defer func() {
		for _, st := range temps {
			if st.tmp != "" {
				os.Remove(st.tmp)
			}
		}
	}()
	// full is the ErrTargetFull that ended the staging: the files staged
	// before it are installed, then it stops the profile. Discarding them
	// would leave a nearly full card without the files that fit, and make
	// every retry write them again.
	var full error
	c.free = -1 // ask the filesystem once per batch
	c.prefetchSources(batch)
	for _, a := range batch {
		st, err := fr.stageRetry(ctx, s, c, a, rep)
		if err != nil {
			if !errors.Is(err, ErrTargetFull) {
				return err
			}
			full = err
			break
		}
		if st.tmp != "" {
			temps = append(temps, st)
		}
	}
	if len(temps) == 0 {
		return full
	}
	// Record the installs before any rename: a crash from here on leaves
	// pending entries that the next pass resolves by content. On kernel
	// filesystems the batch's one syncfs makes this record durable together
	// with the temp files (and the renames of the batches before).
	for _, st := range temps {
		t.mu.Lock()
		e := f.Files[st.act.Name]
		var ne Entry
		if e != nil {
			ne = *e
		}
		ne.Pending = &PendingInstall{Source: st.act.Src.Rel, SrcSize: st.srcSize, SrcMtime: st.srcMtime, Size: st.size, Hash: st.hash}
		f.Files[st.act.Name] = &ne
		t.mu.Unlock()
	}
	if err := t.saveManifestLocked(f, c.perFileSync); err != nil {
		return s.targetErr(fr.abs, err)
	}
	synced, err := c.flush(fr.abs, temps)
	if err != nil {
		return s.targetErr(fr.abs, err)
	}
	if !synced && !c.perFileSync {
		// syncfs failed and the temps were fsynced one by one: the
		// pending record needs its own flush.
		if err := t.saveManifestLocked(f, true); err != nil {
			return s.targetErr(fr.abs, err)
		}
	}
	var verified []staged
	if s.opts.Verify {
		c.prefetchTemps(temps)
	}
	for i := range temps {
		st := temps[i]
		if !s.opts.Verify {
			verified = append(verified, st)
			continue
		}
		err := c.verify(ctx, st, false)
		for try := 0; err != nil && errors.Is(err, errVerify) && try < verifyRetries; try++ {
			s.log.Warn("verify failed, copying again", "profile", s.opts.Profile, "path", join(fr.u.Dir, st.act.Name), "err", err)
			rep.add(func(r *Report) { r.VerifyFailures++ })
			os.Remove(st.tmp)
			again, serr := c.stage(ctx, fr.abs, st.act)
			err = serr
			if err == nil && again.hash != st.hash {
				// The library file changed meanwhile: its new version has no
				// durable pending record; the next pass installs it.
				os.Remove(again.tmp)
				err = fmt.Errorf("%s: %w", st.act.Src.Rel, errSourceChanged)
			} else if err == nil {
				st = again
				temps[i].tmp = st.tmp
				if _, err = c.flush(fr.abs, []staged{st}); err == nil {
					err = c.verify(ctx, st, true)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := s.targetErr(fr.abs, err); targetFatal(err) {
				return err
			}
			os.Remove(st.tmp)
			temps[i].tmp = ""
			s.setEntry(f, st.act.Name, pendingCleared(f.Files[st.act.Name]))
			a := st.act
			rep.add(func(r *Report) {
				r.Errors = append(r.Errors, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: err.Error()})
			})
			continue
		}
		verified = append(verified, st)
	}
	var done []staged
	for i := range verified {
		st := verified[i]
		final := filepath.Join(fr.abs, st.act.Name)
		var err error
		if st.act.Kind == KindCopy {
			err = renameNoReplace(st.tmp, final)
		} else {
			err = os.Rename(st.tmp, final)
		}
		if err != nil {
			os.Remove(st.tmp)
			s.setEntry(f, st.act.Name, pendingCleared(f.Files[st.act.Name]))
			if errors.Is(err, fs.ErrExist) {
				a := st.act
				rep.add(func(r *Report) {
					r.Conflicts = append(r.Conflicts, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: "a file appeared under this name during the pass; not overwritten"})
				})
				continue
			}
			if cerr := s.targetErr(fr.abs, err); targetFatal(cerr) {
				return cerr
			}
			a := st.act
			rep.add(func(r *Report) {
				r.Errors = append(r.Errors, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: err.Error()})
			})
			continue
		}
		for j := range temps {
			if temps[j].tmp == st.tmp {
				temps[j].tmp = ""
			}
		}
		done = append(done, st)
	}
	for _, st := range done {
		final := filepath.Join(fr.abs, st.act.Name)
		info, err := os.Lstat(final)
		if err != nil {
			return s.targetErr(fr.abs, fmt.Errorf("stat %s: %w", final, err))
		}
		// The pending record stays until commitFolder has made the rename
		// durable: until then, a crash is resolved by content.
		t.mu.Lock()
		pend := f.Files[st.act.Name].Pending
		t.mu.Unlock()
		e := &Entry{Source: st.act.Src.Rel, SrcSize: st.srcSize, SrcMtime: st.srcMtime,
			Target: Version{Size: info.Size(), Mtime: info.ModTime().UnixNano(), Hash: st.hash}, Pending: pend}
		s.setEntry(f, st.act.Name, e)
		if st.act.Reason == reasonCaseRename {
			// The old spelling's entry is gone with the rename.
			t.mu.Lock()
			for name := range f.Files {
				if name != st.act.Name && s.names.Key(name) == st.act.Src.Key {
					delete(f.Files, name)
				}
			}
			t.mu.Unlock()
		}
		a := st.act
		rep.add(func(r *Report) {
			r.Copied++
			r.CopiedBytes += st.size
			if a.Kind == KindReplace {
				r.Replaced++
			}
		})
		if s.opts.Progress != nil {
			s.opts.Progress.Done(1, st.size)
		}
		s.log.Debug("installed", "profile", s.opts.Profile, "path", join(fr.u.Dir, a.Name), "bytes", st.size, "hash", st.hash.String())
	}
	fr.renamed = true
	// The renames become durable with the next batch's flush, or with the
	// folder's own fsync once all batches are done (commitFolder).
	return full
}

// commitFolder makes a folder's renames durable and records them: the
// folder's fsync, then its manifest without pending entries.
func (fr *folderRun) commitFolder(s *Session, f *Folder) error {
	if !fr.renamed {
		return nil
	}
	if err := fsyncDir(fr.abs); err != nil {
		return s.targetErr(fr.abs, err)
	}
	t := s.target
	t.mu.Lock()
	for name, e := range f.Files {
		if e.Pending != nil && e.installed() && e.Pending.Hash == e.Target.Hash && e.Pending.Source == e.Source {
			c := *e
			c.Pending = nil
			f.Files[name] = &c
		}
	}
	t.mu.Unlock()
	fr.renamed = false
	return s.targetErr(fr.abs, t.saveManifestLocked(f, true))
}

// stageRetry stages one file, retrying transient read errors with
// exponential backoff. A file that cannot be staged is reported and
// skipped (st.tmp empty); only target-wide failures are returned.
func (fr *folderRun) stageRetry(ctx context.Context, s *Session, c *copier, a action, rep *Report) (staged, error) {
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		st, err := c.stage(ctx, fr.abs, a)
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return staged{}, ctx.Err()
		}
		if targetFatal(err) {
			return staged{}, err
		}
		// The card pulled: creating the temp file fails with ENOENT, which
		// is no busy library file.
		if oerr := s.target.offline(); oerr != nil {
			return staged{}, fmt.Errorf("%w (%v)", oerr, err)
		}
		var tl *tooLargeError
		switch {
		case errors.As(err, &tl):
			rep.add(func(r *Report) {
				r.Skipped = append(r.Skipped, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: tl.Error()})
			})
			return staged{}, nil
		case errors.Is(err, errSourceChanged) || errors.Is(err, fs.ErrNotExist):
			rep.add(func(r *Report) {
				r.Skipped = append(r.Skipped, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: "busy: the library file changed while it was copied; retried next pass"})
			})
			return staged{}, nil
		case transient(err) && attempt < copyAttempts:
			s.log.Debug("retrying", "profile", s.opts.Profile, "path", a.Src.Rel, "attempt", attempt, "err", err)
			if serr := sleepCtx(ctx, backoff); serr != nil {
				return staged{}, serr
			}
			backoff *= 2
			continue
		}
		var tio *targetIOError
		if isTargetSide(err) || errors.As(err, &tio) {
			err = classifyTargetErr(fr.abs, err)
			if targetFatal(err) {
				return staged{}, err
			}
		} else {
			fr.srcErr = true
		}
		rep.add(func(r *Report) {
			r.Errors = append(r.Errors, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: err.Error()})
		})
		return staged{}, nil
	}
}

func isTargetSide(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOTCONN)
}

// delete removes what the library no longer has from one folder. Each
// file is checked again just before: the library still lacks it, and the
// target still holds exactly what romsyncd installed.
func (fr *folderRun) delete(s *Session, rep *Report) error {
	dels := fr.deleteActions()
	if len(dels) == 0 {
		return nil
	}
	t := s.target
	f := t.folder(fr.u.Dir)
	removed := 0
	for _, a := range dels {
		t.mu.Lock()
		e := f.Files[a.Name]
		t.mu.Unlock()
		if e == nil {
			continue
		}
		if _, err := os.Lstat(filepath.Join(s.opts.Source, filepath.FromSlash(e.Source))); !errors.Is(err, fs.ErrNotExist) {
			continue // back in the library (or unreadable): keep it
		}
		p := filepath.Join(fr.abs, a.Name)
		info, err := os.Lstat(p)
		if err != nil || !info.Mode().IsRegular() || info.Size() != e.Target.Size || !s.sameTime(e.Target.Mtime, info.ModTime().UnixNano()) {
			if oerr := t.offline(); oerr != nil {
				return oerr // gone with the card: still owned
			}
			s.setEntry(f, a.Name, nil)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if cerr := classifyTargetErr(fr.abs, err); targetFatal(cerr) {
				return cerr
			}
			rep.add(func(r *Report) {
				r.Errors = append(r.Errors, Item{Path: e.Source, Target: join(fr.u.Dir, a.Name), Reason: err.Error()})
			})
			continue
		}
		s.setEntry(f, a.Name, nil)
		removed++
		s.log.Debug("deleted", "profile", s.opts.Profile, "path", join(fr.u.Dir, a.Name))
	}
	rep.add(func(r *Report) { r.Deleted += removed })
	if removed > 0 {
		if err := fsyncDir(fr.abs); err != nil {
			return classifyTargetErr(fr.abs, err)
		}
	}
	if err := t.saveManifestLocked(f, false); err != nil {
		return classifyTargetErr(fr.abs, err)
	}
	s.pruneCreated(fr.u.Dir)
	return nil
}

// pruneCreated removes folder dir, then its parents, as long as each is a
// folder romsyncd created that now holds nothing at all.
func (s *Session) pruneCreated(dir string) {
	t := s.target
	for dir != "." && dir != "" {
		t.mu.Lock()
		f := t.folders[dir]
		ok := f != nil && f.Created && len(f.Files) == 0
		t.mu.Unlock()
		if !ok {
			return
		}
		abs, err := safeDir(t.Root, dir)
		if err != nil {
			return
		}
		if ents, err := os.ReadDir(abs); err != nil || len(ents) > 0 || os.Remove(abs) != nil {
			return
		}
		_ = fsyncDir(filepath.Dir(abs))
		t.mu.Lock()
		f.Created = false
		t.mu.Unlock()
		_ = t.saveManifestLocked(f, false) // removes its manifest
		dir = path.Dir(dir)
	}
}

package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"golang.org/x/sys/unix"
)

// install copies the folder's new and changed files in batches (see
// installBatch), then commits the folder.
//
// Like a file's own failure, a failure of the folder that does not stop the
// profile (its fsync, its manifest, a file in the way of the folder) is
// reported in rep.Errors, and the pass goes on with the other folders; only
// target-wide failures and the context's error are returned.
func (fr *folderRun) install(ctx context.Context, s *Session, c *copier, rep *Report) error {
	err := fr.installFolder(ctx, s, c, rep)
	if err == nil || outcome.Fatal(err) || ctx.Err() != nil {
		return err
	}
	rep.add(func(r *Report) {
		r.Errors = append(r.Errors, Item{Path: fr.u.Dir, Target: fr.u.Dir, Reason: err.Error()})
	})
	return nil
}

func (fr *folderRun) installFolder(ctx context.Context, s *Session, c *copier, rep *Report) error {
	if err := fr.forget(s.target); err != nil {
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
	if err := fr.ensureDir(s); err != nil {
		return err
	}
	if err := fr.noteMoved(s); err != nil {
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
		if err := fr.installBatch(ctx, s, c, batch, rep); err != nil {
			if cerr := fr.commit(s); cerr != nil && !outcome.Fatal(err) {
				return cerr
			}
			return err
		}
	}
	return fr.commit(s)
}

// forget applies the plan's manifest-only changes of a folder.
func (fr *folderRun) forget(t *cardstate.State) error {
	changed := false
	for _, a := range fr.plan.Actions {
		if a.Kind == KindForget {
			t.Set(fr.u.Dir, a.Name, nil)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return outcome.OfTarget(fr.abs, t.Save(fr.u.Dir, false))
}

// ensureDir creates the target folder and the missing folders above it,
// recording each as romsyncd's before it is created.
func (fr *folderRun) ensureDir(s *Session) error {
	t := s.target
	if fr.u.Dir == "." {
		return nil
	}
	if _, err := os.Lstat(fr.abs); err == nil {
		return s.targetErr(fr.abs, t.NoteInflight(fr.u.Dir, false))
	}
	// A folder missing on a pulled card is its empty mount point's.
	if err := t.Offline(); err != nil {
		return err
	}
	// Record every component about to be created before creating it, so
	// a run killed in between still knows they are romsyncd's.
	comps := strings.Split(fr.u.Dir, "/")
	for i := range comps {
		rel := strings.Join(comps[:i+1], "/")
		if _, err := os.Lstat(filepath.Join(t.Root(), filepath.FromSlash(rel))); err == nil {
			continue
		}
		if err := t.NoteInflight(rel, true); err != nil {
			return s.targetErr(t.Root(), err)
		}
	}
	// Create the missing components one by one, re-checking for links.
	// Each folder romsyncd creates is recorded as its own, so that it can
	// go again once the library no longer fills it (parents included).
	p := t.Root()
	for i, comp := range comps {
		p = filepath.Join(p, comp)
		err := os.Mkdir(p, 0o755)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return s.targetErr(t.Root(), fmt.Errorf("create folder %s: %w", p, err))
		}
		if st, lerr := os.Lstat(p); lerr != nil || !st.IsDir() {
			return fmt.Errorf("target folder %s: a file or link is in the way", p)
		}
		if err == nil && i < len(comps)-1 {
			parent := strings.Join(comps[:i+1], "/")
			t.SetCreated(parent, true)
			if err := t.Save(parent, false); err != nil {
				return s.targetErr(t.Root(), err)
			}
		}
	}
	t.SetCreated(fr.u.Dir, true)
	return s.targetErr(fr.abs, cardstate.FsyncDir(filepath.Dir(fr.abs)))
}

// batch is one batch of a folder's installs in flight. Its temp files are
// removed when it ends, unless renamed into place.
type batch struct {
	fr    *folderRun
	s     *Session
	c     *copier
	rep   *Report
	temps []*staged // staged files; tmp is cleared once renamed or removed
}

// installBatch installs a batch of a folder's copies, in named steps:
// stage each into a temp file, record the pending installs, make the batch
// durable, verify every file by reading it back, rename them over their
// final names, and record what is now installed. The folder's commit (its
// fsync, then its manifest without pending entries) follows the last batch.
func (fr *folderRun) installBatch(ctx context.Context, s *Session, c *copier, acts []action, rep *Report) error {
	// Each batch starts on a target that is still there: in the empty
	// mount point of a pulled card, temp files could be created.
	if err := s.target.Offline(); err != nil {
		return err
	}
	b := &batch{fr: fr, s: s, c: c, rep: rep}
	defer b.removeTemps()
	// full is the ErrTargetFull that ended the staging: the files staged
	// before it are installed, then it stops the profile. Discarding them
	// would leave a nearly full card without the files that fit, and make
	// every retry write them again.
	full, err := b.stage(ctx, acts)
	if err != nil {
		return err
	}
	if len(b.temps) == 0 {
		return full
	}
	if err := b.record(); err != nil {
		return err
	}
	if err := b.flush(); err != nil {
		return err
	}
	verified, err := b.verify(ctx)
	if err != nil {
		return err
	}
	done, err := b.rename(verified)
	if err != nil {
		return err
	}
	if err := b.installed(done); err != nil {
		return err
	}
	fr.renamed = true
	// The renames become durable with the next batch's flush, or with the
	// folder's own fsync once all batches are done (commit).
	return full
}

func (b *batch) removeTemps() {
	for _, st := range b.temps {
		if st.tmp != "" {
			os.Remove(st.tmp)
			st.tmp = ""
		}
	}
}

// stage copies each file into a temp file. A file that cannot be staged is
// reported and left out; a full target ends the staging (returned as full).
func (b *batch) stage(ctx context.Context, acts []action) (full error, err error) {
	b.c.space.forget() // ask the filesystem once per batch
	b.c.prefetchSources(acts)
	results := make([]staged, len(acts))
	errs := make([]error, len(acts))
	// A full target or a fatal error stops the copiers from taking more
	// files; the files already staged are kept (a full target) or removed
	// with the batch (an error).
	b.fr.inFlight(b.c, b.s.opts.Parallel, len(acts), func(c *copier, i int) bool {
		results[i], errs[i] = b.fr.stageRetry(ctx, b.s, c, acts[i], b.rep)
		return errs[i] == nil
	})
	for i := range acts {
		if results[i].tmp != "" {
			b.temps = append(b.temps, &results[i])
		}
	}
	for _, e := range errs {
		switch {
		case e == nil:
		case errors.Is(e, outcome.ErrTargetFull):
			full = e
		default:
			return nil, e
		}
	}
	return full, nil
}

// record writes the pending installs into the manifest before any rename:
// a crash from here on leaves pending entries that the next pass resolves
// by content. On kernel filesystems the batch's one syncfs makes this
// record durable together with the temp files (and the renames of the
// batches before).
func (b *batch) record() error {
	dir := b.fr.u.Dir
	b.s.target.Update(dir, func(files map[string]*cardstate.Entry) {
		for _, st := range b.temps {
			var ne cardstate.Entry
			if e := files[st.act.Name]; e != nil {
				ne = *e
			}
			ne.Pending = &cardstate.PendingInstall{Source: st.act.Src.Rel, SrcSize: st.srcSize, SrcMtime: st.srcMtime, Size: st.size, Hash: st.hash}
			files[st.act.Name] = &ne
		}
	})
	return b.s.targetErr(b.fr.abs, b.s.target.Save(dir, b.c.perFileSync))
}

// flush makes the temp files and the pending record durable.
func (b *batch) flush() error {
	temps := make([]staged, len(b.temps))
	for i, st := range b.temps {
		temps[i] = *st
	}
	synced, err := b.c.flush(b.fr.abs, temps)
	if err != nil {
		return b.s.targetErr(b.fr.abs, err)
	}
	if !synced && !b.c.perFileSync {
		// syncfs failed and the temps were fsynced one by one: the
		// pending record needs its own flush.
		if err := b.s.target.Save(b.fr.u.Dir, true); err != nil {
			return b.s.targetErr(b.fr.abs, err)
		}
	}
	return nil
}

// verify reads every durable temp file back and compares its hash; a file
// read back wrong is copied once more. Files that stay wrong are reported
// and left out.
func (b *batch) verify(ctx context.Context) ([]*staged, error) {
	if !b.s.opts.Verify {
		// Nothing reads the files back: their pages, clean since the
		// flush, go now (a mirror must not evict the machine's work).
		for _, st := range b.temps {
			if fd, err := openRead(st.tmp); err == nil {
				_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
				unix.Close(fd)
			}
		}
		return b.temps, nil
	}
	if b.s.noReadBack {
		// A fuseblk card whose device this user cannot read: the read-back
		// would come from the block device's cache (Options.BlockDevice).
		return b.temps, nil
	}
	b.s.dropDeviceCache()
	errs := make([]error, len(b.temps))
	n := b.s.opts.Parallel
	// One at a time, the read-ahead of prefetchTemps keeps the target busy
	// (it drops each file's cached pages first); several in flight do
	// without, each read dropping its file's pages.
	inFlight := n > 1 && len(b.temps) > 1
	if !inFlight {
		temps := make([]staged, len(b.temps))
		for i, st := range b.temps {
			temps[i] = *st
		}
		b.c.prefetchTemps(temps)
	}
	b.fr.inFlight(b.c, n, len(b.temps), func(c *copier, i int) bool {
		errs[i] = b.verifyOne(ctx, c, b.temps[i], inFlight)
		return true
	})
	var verified []*staged
	for i, st := range b.temps {
		err := errs[i]
		if err == nil {
			verified = append(verified, st)
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := b.s.targetErr(b.fr.abs, err); outcome.Fatal(err) {
			return nil, err
		}
		os.Remove(st.tmp)
		st.tmp = ""
		b.dropPending(st.act.Name)
		b.fr.fileError(b.rep, st.act, err)
	}
	return verified, nil
}

// verifyOne verifies one staged file, copying it again (and verifying the
// new copy) when its read-back differs, up to verifyRetries times.
func (b *batch) verifyOne(ctx context.Context, c *copier, st *staged, drop bool) error {
	err := c.verify(ctx, *st, drop)
	for try := 0; err != nil && errors.Is(err, errVerify) && try < verifyRetries; try++ {
		b.s.log.Warn("verify failed, copying again", "profile", b.s.opts.Profile, "path", join(b.fr.u.Dir, st.act.Name), "err", err)
		b.rep.add(func(r *Report) { r.VerifyFailures++ })
		os.Remove(st.tmp)
		again, serr := c.stage(ctx, b.fr.dirOf(st.act), st.act)
		switch {
		case serr != nil:
			st.tmp = ""
			err = serr
		case again.hash != st.hash:
			// The library file changed meanwhile: its new version has no
			// durable pending record; the next pass installs it.
			os.Remove(again.tmp)
			st.tmp = ""
			err = fmt.Errorf("%s: %w", st.act.Src.Rel, errSourceChanged)
		default:
			*st = again
			if _, err = c.flush(b.fr.abs, []staged{again}); err == nil {
				err = c.verify(ctx, again, true)
			}
		}
	}
	return err
}

// dropPending forgets the pending install of name (the file was not
// renamed into place).
func (b *batch) dropPending(name string) {
	b.s.target.Update(b.fr.u.Dir, func(files map[string]*cardstate.Entry) {
		if e := files[name]; e != nil {
			if c := e.WithoutPending(); c != nil {
				files[name] = c
			} else {
				delete(files, name)
			}
		}
	})
}

// rename renames verified temp files over their final names: a new name
// only if nothing appeared under it meanwhile (a conflict, not overwritten).
func (b *batch) rename(verified []*staged) ([]*staged, error) {
	errs := make([]error, len(verified))
	one := func(i int) {
		st := verified[i]
		final := b.fr.pathOf(st.act)
		if st.act.Kind == KindCopy {
			errs[i] = renameNoReplace(st.tmp, final)
		} else {
			errs[i] = os.Rename(st.tmp, final)
		}
		if errs[i] == nil {
			// What the target made of the file (its mtime granularity)
			// is what the manifest records.
			st.tmp = ""
			st.final, st.statErr = os.Lstat(final)
		}
	}
	// Each rename is two round trips on FUSE (the no-replace check and the
	// rename): a few in flight keep the driver busy.
	b.fr.inFlight(b.c, b.s.opts.Parallel, len(verified), func(_ *copier, i int) bool {
		one(i)
		return true
	})
	var done []*staged
	for i, st := range verified {
		err := errs[i]
		if err == nil {
			done = append(done, st)
			continue
		}
		os.Remove(st.tmp)
		st.tmp = ""
		b.dropPending(st.act.Name)
		a := st.act
		if errors.Is(err, fs.ErrExist) {
			b.rep.add(func(r *Report) {
				r.Conflicts = append(r.Conflicts, Item{Path: a.Src.Rel, Target: join(b.fr.u.Dir, a.Name), Reason: "a file appeared under this name during the pass; not overwritten"})
			})
			continue
		}
		if cerr := b.s.targetErr(b.fr.abs, err); outcome.Fatal(cerr) {
			return nil, cerr
		}
		b.fr.fileError(b.rep, a, err)
	}
	return done, nil
}

// installed records what the renamed files are now. The pending record
// stays until commit has made the renames durable: until then, a crash is
// resolved by content.
func (b *batch) installed(done []*staged) error {
	s, t, dir := b.s, b.s.target, b.fr.u.Dir
	for _, st := range done {
		info, err := st.final, st.statErr
		if err != nil {
			return s.targetErr(b.fr.abs, fmt.Errorf("stat %s: %w", b.fr.pathOf(st.act), err))
		}
		a := st.act
		t.Update(dir, func(files map[string]*cardstate.Entry) {
			var pend *cardstate.PendingInstall
			if e := files[a.Name]; e != nil {
				pend = e.Pending
			}
			files[a.Name] = &cardstate.Entry{Source: a.Src.Rel, SrcSize: st.srcSize, SrcMtime: st.srcMtime,
				Target: cardstate.Version{Size: info.Size(), Mtime: info.ModTime().UnixNano(), Hash: st.hash}, Pending: pend, Moved: b.fr.moved[a.Name]}
			if a.Reason == reasonCaseRename {
				// The old spelling's entry is gone with the rename.
				for name := range files {
					if name != a.Name && s.names.Key(name) == a.Src.Key {
						delete(files, name)
					}
				}
			}
		})
		size := st.size
		b.rep.add(func(r *Report) {
			r.Copied++
			r.CopiedBytes += size
			if a.Kind == KindReplace {
				r.Replaced++
			}
		})
		if s.opts.Progress != nil {
			s.opts.Progress.Done(1, size)
		}
		s.log.Debug("installed", "profile", s.opts.Profile, "path", join(dir, a.Name), "bytes", size, "hash", st.hash.String())
	}
	return nil
}

// commit makes a folder's renames durable and records them: the folder's
// fsync, then its manifest without pending entries.
func (fr *folderRun) commit(s *Session) error {
	if !fr.renamed {
		return nil
	}
	if err := cardstate.FsyncDir(fr.abs); err != nil {
		return s.targetErr(fr.abs, err)
	}
	if err := fr.fsyncMoved(s, KindReplace); err != nil {
		return err
	}
	s.target.Update(fr.u.Dir, func(files map[string]*cardstate.Entry) {
		for name, e := range files {
			if e.Pending != nil && e.Installed() && e.Pending.Hash == e.Target.Hash && e.Pending.Source == e.Source {
				files[name] = e.WithoutPending()
			}
		}
	})
	fr.renamed = false
	return s.targetErr(fr.abs, s.target.Save(fr.u.Dir, true))
}

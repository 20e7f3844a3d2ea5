package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
)

// Names maps library file and folder names to names the target accepts.
type Names interface {
	// Map returns the target name for a library name, or an error saying
	// why the target cannot hold it.
	Map(name string) (string, error)
	// Key returns the collision key of a target name: two names with the
	// same key are the same file on the target.
	Key(name string) string
}

type identityNames struct{}

func (identityNames) Map(name string) (string, error) { return name, nil }
func (identityNames) Key(name string) string          { return name }

// Progress receives the size of the work planned and the work done.
type Progress interface {
	Planned(files int, bytes int64)
	Done(files int, bytes int64)
}

// DeleteLimit decides whether a pass may delete n of the installed files.
type DeleteLimit interface {
	Allows(n, installed int) bool
	String() string
}

// Options configure a profile's passes.
type Options struct {
	Profile string
	Source  string // library root (absolute)
	Target  string // target root (absolute)
	Delete  bool   // mirror deletions (mode: mirror)
	Include []string
	Exclude []string
	Workers int
	Verify  bool
	// MaxDelete caps the deletions of a pass; nil means no cap.
	MaxDelete DeleteLimit
	// MapPlatform maps a top-level library folder to its target folder
	// (a device layout); nil keeps names. ok=false skips the folder.
	MapPlatform func(name string) (folder string, ok bool, reason string)
	// Names maps names for the target; nil keeps them as they are.
	Names Names
	// MaxFileSize is the largest file the target holds (0: no limit).
	MaxFileSize int64
	// PerFileSync fsyncs each file instead of one syncfs per batch (FUSE
	// targets, where syncfs does not reach the driver).
	PerFileSync bool
	// ModifyWindow is how far a target mtime may differ from the one
	// recorded at install and still count as the same (the target's
	// timestamp granularity).
	ModifyWindow time.Duration
	// VolumeSync: one fsync of any file makes the whole target durable
	// (exfat-fuse flushes its volume on every fsync), so a batch needs one.
	// It takes precedence over PerFileSync.
	VolumeSync bool
	// DSTTolerance accepts a target mtime shifted by exactly one hour.
	DSTTolerance bool
	// Probe learns, once the target is opened, what its filesystem needs:
	// it may set Names, MaxFileSize, PerFileSync and ModifyWindow. root is
	// the target root, scratch a folder on it for probe files.
	Probe func(ctx context.Context, root, scratch string, o *Options) error
	// StateDir holds per-profile state (whether the first pass happened);
	// empty: no state kept, the target may be created whenever it is missing.
	StateDir string
	// Unmounted reports a path under an fstab mount point that is not mounted.
	Unmounted func(path string) (string, bool, error)
	DryRun    bool
	Progress  Progress
	Logger    *slog.Logger
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Session is a profile with its target opened and locked. The daemon keeps
// one open between passes; `romsyncd sync` opens one for a single pass.
// Passes of one Session must not overlap unless their folders are disjoint
// (the reconciler guarantees that).
type Session struct {
	opts   Options
	target *Target
	names  Names
	flt    filter
	log    *slog.Logger
}

// Open checks the source and the target (marker, first-pass rule) and
// locks the target.
func Open(ctx context.Context, opts Options) (*Session, error) {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	s := &Session{opts: opts, names: opts.Names, flt: filter{include: opts.Include, exclude: opts.Exclude}, log: opts.logger()}
	if s.names == nil {
		s.names = identityNames{}
	}
	if err := checkSource(opts.Source); err != nil {
		return nil, err
	}
	first, err := s.firstPass()
	if err != nil {
		return nil, err
	}
	t, err := OpenTarget(opts.Target, OpenOptions{Profile: opts.Profile, MayCreate: first, Unmounted: opts.Unmounted, DryRun: opts.DryRun})
	if err != nil {
		return nil, err
	}
	s.target = t
	if err := s.probe(ctx); err != nil {
		t.Close()
		return nil, err
	}
	if t.Created && !opts.DryRun {
		s.log.Info("created target", "profile", opts.Profile, "target", opts.Target)
	}
	if err := s.rememberTarget(); err != nil {
		t.Close()
		return nil, err
	}
	return s, nil
}

// probe lets Options.Probe adapt the options to the target filesystem.
func (s *Session) probe(ctx context.Context) error {
	if s.opts.Probe == nil || (s.opts.DryRun && s.target.Created) {
		return nil
	}
	if err := s.opts.Probe(ctx, s.target.Root, s.target.meta, &s.opts); err != nil {
		return err
	}
	if s.opts.Names != nil {
		s.names = s.opts.Names
	}
	return nil
}

// Close releases the target.
func (s *Session) Close() error { return s.target.Close() }

// Target returns the opened target.
func (s *Session) Target() *Target { return s.target }

func checkSource(src string) error {
	_, err := sourceIsEmpty(src)
	return err
}

// sourceIsEmpty checks that the library root is a readable folder and
// reports whether it holds no entry at all (an unmounted NAS's mount point).
func sourceIsEmpty(src string) (bool, error) {
	st, err := os.Stat(src)
	if err != nil {
		return false, fmt.Errorf("source %s: %w: %v; is the library mounted?", src, ErrSourceOffline, errText(err))
	}
	if !st.IsDir() {
		return false, fmt.Errorf("source %s: %w: not a folder", src, ErrSourceOffline)
	}
	d, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("source %s: %w: %v", src, ErrSourceOffline, errText(err))
	}
	defer d.Close()
	ents, err := d.ReadDir(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("source %s: %w: %v", src, ErrSourceOffline, errText(err))
	}
	return len(ents) == 0, nil
}

// statePath is where the profile records that it has had its first pass.
func (s *Session) statePath() string {
	return StatePath(s.opts.StateDir, s.opts.Profile)
}

// firstPass reports whether the profile never had a target: only then may
// a missing target be created.
func (s *Session) firstPass() (bool, error) {
	p := s.statePath()
	if p == "" {
		return true, nil
	}
	_, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("state %s: %w", p, err)
	}
	return false, nil
}

func (s *Session) rememberTarget() error {
	p := s.statePath()
	if p == "" || s.opts.DryRun {
		return nil
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("state %s: %w", p, err)
	}
	data := fmt.Sprintf("%s\n%s\n", s.opts.Target, s.target.Marker.ID)
	if err := writeFileAtomic(p, []byte(data), true); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// unit is one target folder and the library folders that feed it.
type unit struct {
	Dir     string   // target folder
	SrcDirs []string // library folders feeding it
	Sources []srcFile
	Skipped []Item
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
	rep := &Report{Profile: s.opts.Profile, Source: s.opts.Source, Target: s.opts.Target, DryRun: s.opts.DryRun, Created: s.target.Created}
	err := s.pass(ctx, scope, rep)
	if ferr := s.target.finishInflight(); ferr != nil && err == nil && !s.opts.DryRun {
		err = s.targetErr(s.target.Root, ferr)
	}
	if err != nil {
		rep.Error = err.Error()
	}
	s.target.Created = false // reported once, by the session's first pass
	rep.finish(start)
	return rep, err
}

func (s *Session) pass(ctx context.Context, scope Scope, rep *Report) error {
	empty, err := sourceIsEmpty(s.opts.Source)
	if err != nil {
		return err
	}
	// A library root with nothing in it while the card holds installed
	// files is an unmounted NAS or a wrong path, whatever the scope: a
	// folder-scoped pass of a vanished folder must not delete either.
	if empty && s.target.installedCount() > 0 {
		return fmt.Errorf("source %s: %w: it is empty while the target lists %d installed files; nothing is deleted (is the library mounted?)", s.opts.Source, ErrSourceOffline, s.target.installedCount())
	}
	if !s.opts.DryRun && !s.target.Online() {
		return fmt.Errorf("target %s: %w: its marker is gone (card removed?)", s.opts.Target, ErrTargetOffline)
	}
	units, srcErr, err := s.collect(scope, rep)
	if err != nil {
		return err
	}
	if scope.All && !srcErr && s.target.installedCount() > 0 && sourceEmpty(units) {
		return fmt.Errorf("source %s: %w: it holds no files while the target lists %d installed ones; nothing is deleted (is the library mounted?)", s.opts.Source, ErrSourceOffline, s.target.installedCount())
	}

	var hashed atomic.Int64
	defer func() { rep.HashedBytes += hashed.Load() }()
	var planned []*folderRun
	var mu stdsync.Mutex
	var fatal atomic.Pointer[error]
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Workers)
	cp := make(chan *copier, s.opts.Workers)
	for range s.opts.Workers {
		c := newCopier(s.opts.Source, s.opts.PerFileSync && !s.opts.VolumeSync, s.opts.MaxFileSize, &hashed)
		c.volumeSync = s.opts.VolumeSync
		cp <- c
	}
	// Plan every folder first, so the progress bar knows the total and the
	// deletion guard sees the whole pass. Moves inside the library become
	// moves on the target here, before any worker owns a folder.
	var renames *renameIndex
	if !s.opts.DryRun {
		renames = s.buildRenameIndex()
	}
	renameBuf := make([]byte, bufSize)
	frs := make([]*folderRun, len(units))
	perrs := make([]error, len(units))
	var pg errgroup.Group
	pg.SetLimit(listers(s.opts.Workers))
	for i, u := range units {
		pg.Go(func() error {
			frs[i], perrs[i] = s.planFolder(u, cp, &hashed)
			return nil
		})
	}
	_ = pg.Wait()
	for i, u := range units {
		fr, perr := frs[i], perrs[i]
		if perr == nil {
			perr = s.tryRenames(fr, renames, renameBuf, &hashed, rep)
		}
		if perr != nil {
			if targetFatal(perr) {
				return perr
			}
			rep.add(func(r *Report) { r.Errors = append(r.Errors, Item{Path: u.Dir, Target: u.Dir, Reason: perr.Error()}) })
			srcErr = true
			continue
		}
		planned = append(planned, fr)
	}
	var files int
	var bytes int64
	for _, fr := range planned {
		f, b := fr.work()
		files += f
		bytes += b
		fr.report(rep, s.opts.DryRun)
	}
	if s.opts.Progress != nil {
		s.opts.Progress.Planned(files, bytes)
	}
	if !s.opts.DryRun {
		for _, fr := range planned {
			if !fr.hasCopies() {
				if err := fr.forget(s.target); err != nil {
					return err
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
				if ferr != nil {
					if targetFatal(ferr) {
						fatal.CompareAndSwap(nil, &ferr)
					}
					return ferr
				}
				mu.Lock()
				defer mu.Unlock()
				if fr.srcErr {
					srcErr = true
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			if p := fatal.Load(); p != nil {
				return *p
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	for _, fr := range planned {
		if fr.srcErr {
			srcErr = true
		}
	}
	return s.deletes(ctx, planned, srcErr, rep)
}

// pendingDeletes are the planned deletions whose file is still recorded
// (a move found while planning may have taken it).
func (fr *folderRun) pendingDeletes(t *Target) []action {
	var out []action
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.folders[fr.u.Dir]
	for _, a := range fr.deleteActions() {
		if f != nil && f.Files[a.Name] != nil {
			out = append(out, a)
		}
	}
	return out
}

func sourceEmpty(units []*unit) bool {
	for _, u := range units {
		if len(u.Sources) > 0 || len(u.Skipped) > 0 {
			return false
		}
	}
	return true
}

// deletes removes what the library no longer has, after every copy, and
// only when the whole pass read the library without error and stays within
// max_delete.
func (s *Session) deletes(ctx context.Context, planned []*folderRun, srcErr bool, rep *Report) error {
	n := 0
	for _, fr := range planned {
		n += len(fr.pendingDeletes(s.target))
	}
	if n == 0 {
		return nil
	}
	installed := s.target.installedCount()
	switch {
	case srcErr:
		rep.DeletesHeld = fmt.Sprintf("%d deletion(s) skipped: the library could not be read completely in this pass", n)
		return nil
	case s.opts.MaxDelete != nil && !s.opts.MaxDelete.Allows(n, installed):
		rep.DeletesHeld = fmt.Sprintf("%d deletion(s) of %d installed files exceed max_delete %s", n, installed, s.opts.MaxDelete)
		return fmt.Errorf("%w: the pass would delete %d of %d installed files, more than max_delete %s allows; nothing was deleted (raise max_delete if this is intended)", ErrTooManyDeletes, n, installed, s.opts.MaxDelete)
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

// collect lists the library folders in scope and groups them into units,
// one per target folder.
func (s *Session) collect(scope Scope, rep *Report) ([]*unit, bool, error) {
	srcErr := false
	byDir := map[string]*unit{}
	get := func(dir string) *unit {
		u := byDir[dir]
		if u == nil {
			u = &unit{Dir: dir}
			byDir[dir] = u
		}
		return u
	}
	add := func(rel string, l listing) {
		tdir, ok, reason, nameErr := s.mapDir(rel)
		if !ok {
			if rel != "." && !strings.Contains(rel, "/") {
				rep.add(func(r *Report) { r.Folders = append(r.Folders, FolderMap{Source: rel, Skip: reason}) })
			}
			if nameErr {
				// Not a choice of the profile: the card cannot hold the
				// folder's name. Its files are problems the user must see.
				rep.add(func(r *Report) {
					for _, f := range l.files {
						r.Skipped = append(r.Skipped, Item{Path: f.Rel, Reason: "folder name: " + reason})
					}
				})
			}
			return
		}
		if !strings.Contains(rel, "/") && rel != "." {
			rep.add(func(r *Report) { r.Folders = append(r.Folders, FolderMap{Source: rel, Target: tdir}) })
		}
		u := get(tdir)
		u.SrcDirs = append(u.SrcDirs, rel)
		for _, f := range l.files {
			if !utf8.ValidString(path.Base(f.Rel)) {
				u.Skipped = append(u.Skipped, Item{Path: f.Rel, Reason: "name is not valid UTF-8; rename it in the library"})
				continue
			}
			name, err := s.names.Map(path.Base(f.Rel))
			if err != nil {
				u.Skipped = append(u.Skipped, Item{Path: f.Rel, Reason: errText(err)})
				continue
			}
			f.Name = name
			f.Key = s.names.Key(name)
			u.Sources = append(u.Sources, f)
		}
		u.Skipped = append(u.Skipped, l.skipped...)
	}
	if scope.All {
		// Breadth first, each level's folders listed in parallel: a pass
		// is mostly waiting for stat, on a NAS even more.
		var mu stdsync.Mutex
		level := []string{"."}
		for len(level) > 0 {
			lists := make([]listing, len(level))
			errs := make([]error, len(level))
			var g errgroup.Group
			g.SetLimit(listers(s.opts.Workers))
			for i, rel := range level {
				g.Go(func() error {
					lists[i], errs[i] = listSource(s.opts.Source, rel, s.flt)
					return nil
				})
			}
			_ = g.Wait()
			var next []string
			for i, rel := range level {
				if errs[i] != nil {
					srcErr = true
					err := errs[i]
					rep.add(func(r *Report) { r.Errors = append(r.Errors, Item{Path: rel, Reason: err.Error()}) })
					continue
				}
				mu.Lock()
				add(rel, lists[i])
				mu.Unlock()
				for _, d := range lists[i].dirs {
					if rel == "." {
						next = append(next, d)
					} else {
						next = append(next, rel+"/"+d)
					}
				}
			}
			level = next
		}
		// Folders romsyncd installed into that no library folder feeds any
		// more: their files are deletion candidates.
		for _, d := range s.target.folderDirs() {
			get(d)
		}
	} else {
		for _, rel := range scope.Dirs {
			tdir, ok, _, _ := s.mapDir(rel)
			_, err := os.Lstat(filepath.Join(s.opts.Source, filepath.FromSlash(rel)))
			switch {
			case err == nil:
				// Every library folder feeding the same target folder is
				// listed too (merged platforms).
				for _, other := range s.feeders(tdir, rel) {
					if l, lerr := listSource(s.opts.Source, other, s.flt); lerr == nil {
						add(other, l)
					} else {
						srcErr = true
						rep.add(func(r *Report) { r.Errors = append(r.Errors, Item{Path: other, Reason: lerr.Error()}) })
					}
				}
			case errors.Is(err, fs.ErrNotExist):
				// The folder is gone: its target folder and everything
				// installed below it are candidates for deletion.
				if ok {
					get(tdir)
					for _, d := range s.target.folderDirs() {
						if d == tdir || strings.HasPrefix(d, tdir+"/") || tdir == "." {
							get(d)
						}
					}
				}
			default:
				srcErr = true
				rep.add(func(r *Report) { r.Errors = append(r.Errors, Item{Path: rel, Reason: errText(err)}) })
			}
		}
	}
	units := make([]*unit, 0, len(byDir))
	for _, u := range byDir {
		units = append(units, u)
	}
	sort.Slice(units, func(i, j int) bool { return units[i].Dir < units[j].Dir })
	return units, srcErr, nil
}

// listers is how many folders are listed (or planned) at once: stat-bound
// work that gains from more parallelism than copying does.
func listers(workers int) int {
	return max(workers, 4)
}

// mapDir maps a library folder to its target folder. ok=false skips the
// folder; nameErr says the target cannot hold a name (a problem), rather
// than the layout leaving the folder out (a choice).
func (s *Session) mapDir(rel string) (dir string, ok bool, reason string, nameErr bool) {
	if rel == "." {
		return ".", true, "", false
	}
	parts := strings.Split(rel, "/")
	top := parts[0]
	var names []string
	if s.opts.MapPlatform != nil {
		folder, ok, reason := s.opts.MapPlatform(top)
		if !ok {
			return "", false, reason, false
		}
		names = strings.Split(folder, "/")
	} else {
		names = []string{top}
	}
	names = append(names, parts[1:]...)
	out := make([]string, 0, len(names))
	for _, p := range names {
		if !utf8.ValidString(p) {
			return "", false, "folder name is not valid UTF-8; rename it in the library", true
		}
		m, err := s.names.Map(p)
		if err != nil {
			return "", false, errText(err), true
		}
		out = append(out, m)
	}
	return strings.Join(out, "/"), true, "", false
}

// feeders lists the library folders that map to target folder tdir, given
// one of them (rel). Only platform folders can merge, so the candidates are
// rel's path below each top-level library folder.
func (s *Session) feeders(tdir, rel string) []string {
	out := []string{rel}
	if s.opts.MapPlatform == nil {
		return out
	}
	top, rest, _ := strings.Cut(rel, "/")
	ents, err := os.ReadDir(s.opts.Source)
	if err != nil {
		return out
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == top || alwaysSkipped(e.Name(), true) {
			continue
		}
		cand := e.Name()
		if rest != "" {
			cand += "/" + rest
		}
		if d, ok, _, _ := s.mapDir(cand); ok && d == tdir {
			if st, err := os.Stat(filepath.Join(s.opts.Source, filepath.FromSlash(cand))); err == nil && st.IsDir() {
				out = append(out, cand)
			}
		}
	}
	return out
}

package sync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/romsyncd/romsyncd/sync/outcome"
)

// collector groups library folders into units, one per target folder.
type collector struct {
	s      *Session
	rep    *Report
	byDir  map[string]*unit
	srcErr bool         // a library folder could not be listed
	discs  []discFolder // listed folders, for the multi-disc games (multidisc.go)
}

// collect lists the library folders in scope and groups them into units,
// one per target folder.
func (s *Session) collect(scope Scope, rep *Report) ([]*unit, bool, error) {
	c := &collector{s: s, rep: rep, byDir: map[string]*unit{}}
	if scope.All {
		c.all()
	} else {
		c.dirs(scope.Dirs)
	}
	c.shapeDiscs()
	units := make([]*unit, 0, len(c.byDir))
	for _, u := range c.byDir {
		units = append(units, u)
	}
	sort.Slice(units, func(i, j int) bool { return units[i].Dir < units[j].Dir })
	return units, c.srcErr, nil
}

func (c *collector) get(dir string) *unit {
	u := c.byDir[dir]
	if u == nil {
		u = &unit{Dir: dir}
		c.byDir[dir] = u
	}
	return u
}

// listErr reports a library folder that could not be listed.
func (c *collector) listErr(rel string, reason string) {
	c.srcErr = true
	c.rep.add(func(r *Report) { r.Errors = append(r.Errors, Item{Path: rel, Reason: reason}) })
}

// add puts the files of library folder rel into the unit of its target
// folder, each under the name the target can hold.
func (c *collector) add(rel string, l listing) {
	s := c.s
	tdir, ok, reason, nameErr := s.mapDir(rel)
	if !ok {
		if rel != "." && !strings.Contains(rel, "/") {
			c.rep.add(func(r *Report) { r.Folders = append(r.Folders, FolderMap{Source: rel, Skip: reason}) })
		}
		if nameErr {
			// Not a choice of the profile: the card cannot hold the
			// folder's name. Its files are problems the user must see.
			c.rep.add(func(r *Report) {
				for _, f := range l.files {
					r.Skipped = append(r.Skipped, Item{Path: f.Rel, Reason: "folder name: " + reason, Skip: outcome.Name})
				}
			})
		}
		return
	}
	if !strings.Contains(rel, "/") && rel != "." {
		c.rep.add(func(r *Report) { r.Folders = append(r.Folders, FolderMap{Source: rel, Target: tdir}) })
	}
	u := c.get(tdir)
	u.SrcDirs = append(u.SrcDirs, rel)
	files := c.unzip(rel, l.files)
	if u.Sources == nil {
		// The usual case, one library folder per target folder: its
		// listing becomes the unit's sources, filtered in place (a
		// 100,000-file library holds one copy of its listing, not two).
		u.Sources = files[:0]
	}
	for _, f := range files {
		if !utf8.ValidString(f.base()) {
			u.Skipped = append(u.Skipped, Item{Path: f.Rel, Reason: "name is not valid UTF-8; rename it in the library", Skip: outcome.Name})
			continue
		}
		name, err := s.names.Map(f.base())
		if err != nil {
			u.Skipped = append(u.Skipped, Item{Path: f.Rel, Reason: errText(err), Skip: outcome.Name})
			continue
		}
		f.Name = name
		f.Key = s.names.Key(name)
		u.Sources = append(u.Sources, f)
	}
	u.Skipped = append(u.Skipped, l.skipped...)
	c.noteDiscs(rel, tdir, l.dirs)
}

// all lists the whole library breadth first, each level's folders in
// parallel: a pass is mostly waiting for stat, on a NAS even more.
func (c *collector) all() {
	s := c.s
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
				c.listErr(rel, errs[i].Error())
				continue
			}
			c.add(rel, lists[i])
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
	for _, d := range s.target.Dirs() {
		c.get(d)
	}
}

// dirs lists the library folders a folder-scoped pass covers.
func (c *collector) dirs(dirs []string) {
	s := c.s
	for _, rel := range dirs {
		tdir, ok, _, _ := s.mapDir(rel)
		_, err := os.Lstat(filepath.Join(s.opts.Source, filepath.FromSlash(rel)))
		switch {
		case err == nil:
			// Every library folder feeding the same target folder is
			// listed too (merged platforms).
			for _, other := range s.feeders(tdir, rel) {
				if l, lerr := listSource(s.opts.Source, other, s.flt); lerr == nil {
					c.add(other, l)
				} else {
					c.listErr(other, lerr.Error())
				}
			}
			if ok {
				c.discDirs(rel, tdir)
			}
		case errors.Is(err, fs.ErrNotExist):
			// The folder is gone: its target folder and everything
			// installed below it are candidates for deletion.
			if ok {
				c.get(tdir)
				for _, d := range s.target.Dirs() {
					if d == tdir || strings.HasPrefix(d, tdir+"/") || tdir == "." {
						c.get(d)
					}
				}
			}
		default:
			c.listErr(rel, errText(err))
		}
	}
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

package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"golang.org/x/sys/unix"
)

// Devices rearrange the files romsyncd installed. Onion's playlist
// generator (OnionUI/Onion static/build/.tmp_update/script/m3u_gen.sh, at
// commit 07505ea58c7bba698d6b9220ff43946a43cac76b) moves every disc of a
// multi-disc game with `mv -n` into a hidden ".Game Name" sub-folder (or one
// ".multi-disc" sub-folder) of the ROM folder and writes "Game Name.m3u"
// next to it. Seen from the manifest, the discs are missing: without this
// file the next pass would copy them all again (duplicates on the card).
//
// So a file romsyncd installed that is missing from its folder is looked
// for one level down, in the folder's hidden sub-folders first, then in its
// other sub-folders; it is the same file when it has the same name (the
// same collision key), the recorded size and the recorded content hash
// (read, never guessed). It is then recorded in its manifest entry
// (Entry.Moved) and kept where the device put it: counted unchanged while it
// keeps its size and mtime, replaced there when the library changes it
// (the device's playlist points there), deleted there when the library
// drops it in mirror mode. The sub-folder and the device's playlist are the
// device's: never recorded as romsyncd's, never removed.

// findMoved resolves where the installed files of fr's folder missing from
// listing are: files recorded as moved are checked where the device put
// them, the others looked for in the folder's sub-folders. Each file found
// is added to listing under its installed name (so plan treats it like a
// file in place) and to fr.moved; outside a dry run the manifest records
// it. It runs before recoverPending: it settles the interrupted installs
// of moved files itself, by content.
func (s *Session) findMoved(fr *folderRun, listing map[string]targetStat, cp chan *copier, hashed *atomic.Int64) error {
	t, dir := s.target, fr.u.Dir
	// The usual case, checked without a copy of the manifest: every
	// installed file is under its own name and none was ever moved.
	if t.Every(dir, func(name string, e *cardstate.Entry) bool {
		_, here := listing[name]
		return e.Moved == "" && (here || !e.Installed() || e.Pending != nil)
	}) {
		return nil
	}
	present := make(map[string]bool, len(listing))
	for _, st := range listing {
		present[s.names.Key(st.Name)] = true
	}
	changed := false
	set := func(name string, e *cardstate.Entry) {
		if !s.opts.DryRun {
			t.Set(dir, name, e)
			changed = true
		}
	}
	var lost []string // installed, missing, not where the device put it
	for name, e := range t.Entries(dir) {
		if e.Moved != "" && e.Pending != nil {
			ne, err := s.settleMoved(fr, e, cp, hashed)
			if err != nil {
				return err
			}
			set(name, ne)
			if e = ne; e == nil {
				continue
			}
		}
		if !e.Installed() || e.Pending != nil {
			continue
		}
		if present[s.names.Key(name)] {
			if e.Moved != "" {
				// Back under its own name: the file there is the one the
				// plan looks at; the moved copy is left to the device.
				ne := *e
				ne.Moved = ""
				set(name, &ne)
			}
			continue
		}
		if e.Moved != "" {
			st, ok, err := statMoved(fr.abs, e.Moved)
			if err != nil {
				return s.targetErr(fr.abs, err)
			}
			if ok {
				fr.keepMoved(listing, name, e.Moved, st)
				continue
			}
		}
		lost = append(lost, name)
	}
	if len(lost) > 0 {
		found, err := s.searchMoved(fr, listing, lost, cp, hashed)
		if err != nil {
			return err
		}
		for _, name := range lost {
			e := t.Entry(dir, name)
			m, ok := found[name]
			switch {
			case e == nil:
			case ok:
				ne := *e
				ne.Moved = m.rel
				// The hash proved the content: the mtime the device's
				// move left is the one to compare from now on.
				ne.Target.Mtime = m.st.Mtime
				set(name, &ne)
				fr.keepMoved(listing, name, m.rel, m.st)
				s.log.Debug("kept where the device moved it", "profile", s.opts.Profile,
					"path", join(dir, name), "moved_to", join(dir, m.rel))
			case e.Moved != "":
				// Moved, then removed: the plan copies it again to its place.
				ne := *e
				ne.Moved = ""
				set(name, &ne)
			}
		}
	}
	if !changed {
		return nil
	}
	return s.targetErr(fr.abs, t.Save(dir, false))
}

// keepMoved lets the plan see the moved file of entry name as if it were
// in the folder.
func (fr *folderRun) keepMoved(listing map[string]targetStat, name, rel string, st targetStat) {
	if fr.moved == nil {
		fr.moved = map[string]string{}
	}
	fr.moved[name] = rel
	listing[name] = targetStat{Name: name, Size: st.Size, Mtime: st.Mtime}
}

// settleMoved decides by content what an interrupted install of a moved
// file left where the device put it: the new version (now installed) or
// not (the install is dropped).
func (s *Session) settleMoved(fr *folderRun, e *cardstate.Entry, cp chan *copier, hashed *atomic.Int64) (*cardstate.Entry, error) {
	if !validMoved(e.Moved) {
		return e.WithoutPending(), nil
	}
	st, ok, err := statMoved(fr.abs, e.Moved)
	if err != nil {
		return nil, s.targetErr(fr.abs, err)
	}
	if !ok {
		return e.WithoutPending(), nil
	}
	c := <-cp
	h, n, err := hashFile(filepath.Join(fr.abs, filepath.FromSlash(e.Moved)), c.buffer(), hashed)
	cp <- c
	if err != nil {
		return nil, s.targetErr(fr.abs, err)
	}
	pend := e.Pending
	if h != pend.Hash || n != pend.Size {
		return e.WithoutPending(), nil
	}
	return &cardstate.Entry{Source: pend.Source, SrcSize: pend.SrcSize, SrcMtime: pend.SrcMtime,
		Target: cardstate.Version{Size: st.Size, Mtime: st.Mtime, Hash: h}, Moved: e.Moved}, nil
}

// movedFile is a file of a sub-folder: where it is, relative to the folder.
type movedFile struct {
	rel string
	st  targetStat
}

// searchMoved looks for the lost installed files of fr's folder in its
// sub-folders, one level down: the hidden ones first, then the others,
// each in name order. Sub-folders romsyncd fills itself (they have a
// manifest) are not searched: their files are theirs. A candidate has the
// lost file's collision key and recorded size, and its content hash must be
// the recorded one.
func (s *Session) searchMoved(fr *folderRun, listing map[string]targetStat, lost []string, cp chan *copier, hashed *atomic.Int64) (map[string]movedFile, error) {
	t, dir := s.target, fr.u.Dir
	var subs []string
	for name, st := range listing {
		if !st.Dir || name == cardstate.MetaDirName || alwaysSkipped(name, true) {
			continue
		}
		sub := join(dir, name)
		if t.Count(sub) > 0 || t.CreatedEmpty(sub) {
			continue
		}
		subs = append(subs, name)
	}
	if len(subs) == 0 {
		return nil, nil
	}
	sort.Slice(subs, func(i, j int) bool {
		hi, hj := strings.HasPrefix(subs[i], "."), strings.HasPrefix(subs[j], ".")
		if hi != hj {
			return hi
		}
		return subs[i] < subs[j]
	})
	want := make(map[string][]string, len(lost)) // key -> lost names
	for _, name := range lost {
		k := s.names.Key(name)
		want[k] = append(want[k], name)
	}
	cands := map[string][]movedFile{} // lost name -> candidates, in search order
	for _, sub := range subs {
		abs := filepath.Join(fr.abs, sub)
		if st, err := os.Lstat(abs); err != nil || !st.IsDir() {
			continue // a link, or gone
		}
		files, err := listTarget(abs)
		if err != nil {
			if oerr := s.target.Offline(); oerr != nil {
				return nil, oerr
			}
			s.log.Debug("cannot list a sub-folder while looking for moved files", "profile", s.opts.Profile, "folder", join(dir, sub), "err", err)
			continue
		}
		for _, st := range files {
			if st.Dir || cardstate.IsTemp(st.Name) {
				continue
			}
			for _, name := range want[s.names.Key(st.Name)] {
				cands[name] = append(cands[name], movedFile{rel: sub + "/" + st.Name, st: st})
			}
		}
	}
	found := map[string]movedFile{}
	taken := map[string]bool{}
	for _, name := range lost {
		e := t.Entry(dir, name)
		if e == nil {
			continue
		}
		for _, m := range cands[name] {
			if taken[m.rel] || m.st.Size != e.Target.Size {
				continue
			}
			c := <-cp
			h, n, err := hashFile(filepath.Join(fr.abs, filepath.FromSlash(m.rel)), c.buffer(), hashed)
			cp <- c
			if err != nil {
				if cerr := s.targetErr(fr.abs, err); outcome.Fatal(cerr) {
					return nil, cerr
				}
				continue
			}
			if h == e.Target.Hash && n == e.Target.Size {
				found[name] = m
				taken[m.rel] = true
				break
			}
		}
	}
	return found, nil
}

// statMoved stats a moved file (rel relative to the folder at abs); ok is
// false when it is not there as a regular file in a real sub-folder.
func statMoved(abs, rel string) (targetStat, bool, error) {
	if !validMoved(rel) {
		return targetStat{}, false, nil
	}
	sub, name := path.Split(rel)
	subAbs := filepath.Join(abs, strings.TrimSuffix(sub, "/"))
	if st, err := os.Lstat(subAbs); err != nil || !st.IsDir() {
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			return targetStat{}, false, fmt.Errorf("stat %s: %w", subAbs, err)
		}
		return targetStat{}, false, nil
	}
	p := filepath.Join(subAbs, name)
	info, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return targetStat{}, false, nil
	case err != nil:
		return targetStat{}, false, fmt.Errorf("stat %s: %w", p, err)
	case !info.Mode().IsRegular():
		return targetStat{}, false, nil
	}
	return targetStat{Name: name, Size: info.Size(), Mtime: info.ModTime().UnixNano()}, true, nil
}

// validMoved reports whether rel is "<sub-folder>/<name>", one level down.
func validMoved(rel string) bool {
	sub, name, ok := strings.Cut(rel, "/")
	bad := func(s string) bool { return s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") }
	return ok && !bad(sub) && !bad(name) && sub != cardstate.MetaDirName
}

// dirOf is the folder that action a writes its temp file in: the target
// folder, or the sub-folder the device moved the installed file into.
func (fr *folderRun) dirOf(a action) string {
	if rel, ok := fr.moved[a.Name]; ok {
		return filepath.Join(fr.abs, filepath.FromSlash(path.Dir(rel)))
	}
	return fr.abs
}

// pathOf is where action a's file is on the target.
func (fr *folderRun) pathOf(a action) string {
	if rel, ok := fr.moved[a.Name]; ok {
		return filepath.Join(fr.abs, filepath.FromSlash(rel))
	}
	return filepath.Join(fr.abs, a.Name)
}

// movedDirs are the sub-folders the plan's actions of kind k write into
// (relative to the target root), each once.
func (fr *folderRun) movedDirs(kinds ...Kind) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range fr.plan.Actions {
		rel, ok := fr.moved[a.Name]
		if !ok || !hasKind(kinds, a.Kind) {
			continue
		}
		d := join(fr.u.Dir, path.Dir(rel))
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func hasKind(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// noteMoved records in the in-flight journal the sub-folders that replaced
// moved files are staged in, before any temp file is created there (a
// killed run's temp files are then removed; the sub-folder is not
// romsyncd's).
func (fr *folderRun) noteMoved(s *Session) error {
	for _, d := range fr.movedDirs(KindReplace) {
		if err := s.target.NoteInflight(d, false); err != nil {
			return s.targetErr(fr.abs, err)
		}
	}
	return nil
}

// fsyncMoved makes durable the renames and removals the plan's actions of
// the given kinds made in sub-folders the device moved files into.
func (fr *folderRun) fsyncMoved(s *Session, kinds ...Kind) error {
	for _, d := range fr.movedDirs(kinds...) {
		abs := filepath.Join(s.target.Root(), filepath.FromSlash(d))
		if err := cardstate.FsyncDir(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.targetErr(abs, err)
		}
	}
	return nil
}

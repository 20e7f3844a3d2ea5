package sync

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"golang.org/x/sys/unix"
)

// A game of several discs shows as one game on a device only in the shape
// its firmware wants (platform's discs.tsv says which, with its source).
// The collector groups each library folder's discs (groupDiscs), moves
// them into a sub-unit where the style wants a folder, and adds the game's
// playlist as a generated source: a srcFile with Content, installed like
// any ROM (temp file, flush, verify, rename, manifest) and owned by
// romsyncd, so it is replaced when the game gains or loses a disc and
// deleted when the game goes. Its library path is the .m3u the library
// does not have ("PS/Game.m3u"): if the library gets one, that one is
// mirrored as it is and nothing is generated.

// DiscStyle is how the device wants a game of several discs laid out.
type DiscStyle string

// The multi-disc styles (see platform.DiscStyle).
const (
	DiscsAsIs   DiscStyle = ""       // mirrored as they are
	DiscsHidden DiscStyle = "hidden" // <dir>/.Title/<discs>, <dir>/Title.m3u listing ".Title/<disc>" (Onion)
	DiscsFolder DiscStyle = "folder" // <dir>/Title/<discs>, <dir>/Title/Title.m3u listing "<disc>" (MinUI)
	DiscsFlat   DiscStyle = "flat"   // <dir>/<discs>, <dir>/Title.m3u listing "<disc>" (muOS, Batocera, ROCKNIX)
)

// maxSheet is the largest .cue, .gdi or .m3u read to find the files it names.
const maxSheet = 64 << 10

// discFolder is one library folder a pass lists, for the multi-disc step.
type discFolder struct {
	rel, tdir string
	dirs      []string // its sub-folders (library names)
}

// discPlaces says where a pass puts each file of the library folders it
// shapes, and each playlist (target path), so that a copy installed
// elsewhere before (the game's shape changed) is moved or deleted although
// its library file is still there. One value is shared by the units of a
// pass.
type discPlaces struct {
	to  map[string]string // library path -> target path
	key func(string) string
}

// moved reports whether the library file source, installed at dir/name,
// goes to another place in this pass.
func (u *unit) discMoved(dir, name, source string) bool {
	if u == nil || u.Discs == nil {
		return false
	}
	to, ok := u.Discs.to[source]
	return ok && u.Discs.keyPath(to) != u.Discs.keyPath(join(dir, name))
}

func (p *discPlaces) keyPath(rel string) string {
	parts := strings.Split(rel, "/")
	for i, s := range parts {
		parts[i] = p.key(s)
	}
	return strings.Join(parts, "/")
}

// noteDiscs remembers a listed library folder for shapeDiscs.
func (c *collector) noteDiscs(rel, tdir string, dirs []string) {
	if c.s.opts.DiscStyle != DiscsAsIs && rel != "." {
		c.discs = append(c.discs, discFolder{rel: rel, tdir: tdir, dirs: dirs})
	}
}

// discDirs adds to a folder-scoped pass the target folders below tdir
// whose every installed file came from library folder rel: the shapes of
// its multi-disc games, those of games since gone included. A folder that
// another library folder also feeds is left to a full pass, so no folder
// is planned with an incomplete list of its sources.
func (c *collector) discDirs(rel, tdir string) {
	t := c.s.target
	for _, d := range t.Dirs() {
		if path.Dir(d) != tdir || c.byDir[d] != nil {
			continue
		}
		all, any := true, false
		for _, e := range t.Entries(d) {
			src := e.Source
			if src == "" && e.Pending != nil {
				src = e.Pending.Source
			}
			if path.Dir(src) != rel {
				all = false
				break
			}
			any = true
		}
		if all && any {
			c.get(d)
		}
	}
}

// shapeDiscs gives the multi-disc games of the listed folders the shape
// the device wants.
func (c *collector) shapeDiscs() {
	s := c.s
	if s.opts.DiscStyle == DiscsAsIs || len(c.discs) == 0 {
		return
	}
	places := &discPlaces{to: map[string]string{}, key: s.names.Key}
	// The target sub-folders real library folders feed (or a game took),
	// by collision key, per target folder.
	taken := map[string]map[string]string{}
	for _, f := range c.discs {
		if taken[f.tdir] == nil {
			taken[f.tdir] = map[string]string{}
		}
		for _, d := range f.dirs {
			if m, err := s.names.Map(d); err == nil {
				taken[f.tdir][s.names.Key(m)] = join(f.rel, d)
			}
		}
	}
	for _, f := range c.discs {
		c.shapeFolder(f, taken[f.tdir], places)
	}
	for _, u := range c.byDir {
		u.Discs = places
	}
}

// shapeFolder groups one library folder's discs into games and moves each
// game's files to where the device wants them, with its playlist.
func (c *collector) shapeFolder(f discFolder, taken map[string]string, places *discPlaces) {
	u := c.byDir[f.tdir]
	if u == nil {
		return
	}
	var idx []int // u.Sources of this library folder
	var names []string
	for i, src := range u.Sources {
		if path.Dir(src.Rel) == f.rel {
			idx = append(idx, i)
			names = append(names, path.Base(src.Rel))
		}
	}
	refs := func(i int) []string { return c.s.readRefs(u.Sources[idx[i]].Rel) }
	moved := map[int]bool{}
	for _, g := range groupDiscs(names, refs) {
		c.shapeGame(f, u, g, idx, taken, moved, places)
	}
	n := len(u.Sources)
	kept := u.Sources[:0]
	for i := range n {
		src := u.Sources[i]
		if moved[i] {
			continue
		}
		places.to[src.Rel] = join(u.Dir, src.Name)
		kept = append(kept, src)
	}
	u.Sources = kept
}

// shapeGame moves one game's files and adds its playlist, or leaves the
// game as it is and says why when its folder cannot be made.
func (c *collector) shapeGame(f discFolder, u *unit, g discGame, idx []int, taken map[string]string, moved map[int]bool, places *discPlaces) {
	s := c.s
	first := u.Sources[idx[g.Discs[0]]]
	asIs := func(target, why string) {
		s.log.Warn("multi-disc game mirrored as it is", "profile", s.opts.Profile, "game", join(f.rel, g.Title), "reason", why)
		c.rep.add(func(r *Report) {
			r.Conflicts = append(r.Conflicts, Item{Path: first.Rel, Target: target,
				Reason: "multi-disc game " + g.Title + ": " + why + "; its discs are copied as they are, without a playlist"})
		})
	}
	m3u, err := s.names.Map(g.Title + ".m3u")
	if err != nil {
		asIs(join(f.tdir, g.Title+".m3u"), "the card cannot hold its playlist's name: "+errText(err))
		return
	}
	dir, prefix := f.tdir, ""
	if st := s.opts.DiscStyle; st == DiscsHidden || st == DiscsFolder {
		sub := g.Title
		if st == DiscsHidden {
			sub = "." + g.Title
		}
		m, err := s.names.Map(sub)
		if err != nil {
			asIs(join(f.tdir, sub), "the card cannot hold its folder's name: "+errText(err))
			return
		}
		if st == DiscsFolder && m3u != m+".m3u" {
			// MinUI launches the folder's m3u only if it is named like the folder.
			asIs(join(f.tdir, m), "its playlist's name on the card ("+m3u+") would not match its folder's")
			return
		}
		if other, ok := taken[s.names.Key(m)]; ok {
			asIs(join(f.tdir, m), "its folder "+join(f.tdir, m)+" is also "+other+"'s")
			return
		}
		taken[s.names.Key(m)] = join(f.rel, g.Title)
		dir = join(f.tdir, m)
		if st == DiscsHidden {
			prefix = m + "/"
		}
	}
	discs := make([]string, len(g.Discs))
	for i, d := range g.Discs {
		discs[i] = u.Sources[idx[d]].Name
	}
	content := playlist(prefix, discs)
	gen := srcFile{Rel: join(f.rel, g.Title+".m3u"), Size: int64(len(content)), Mtime: int64(xxhash.Sum64(content)),
		Name: m3u, Key: s.names.Key(m3u), Content: content}
	target := u
	if dir != f.tdir {
		target = c.get(dir)
		target.SrcDirs = append(target.SrcDirs, f.rel)
		for _, i := range g.Files {
			src := u.Sources[idx[i]]
			target.Sources = append(target.Sources, src)
			moved[idx[i]] = true
			places.to[src.Rel] = join(dir, src.Name)
		}
	}
	for _, i := range g.Files {
		gen.ContentTime = max(gen.ContentTime, u.Sources[idx[i]].Mtime)
	}
	m3uUnit := u
	if s.opts.DiscStyle == DiscsFolder {
		m3uUnit = target
	}
	m3uUnit.Sources = append(m3uUnit.Sources, gen)
	places.to[gen.Rel] = join(m3uUnit.Dir, gen.Name)
}

// readRefs returns the names a library .cue, .gdi or .m3u refers to (nil
// for other files, or when it cannot be read: its discs are then grouped
// by name only).
func (s *Session) readRefs(rel string) []string {
	switch strings.ToLower(path.Ext(rel)) {
	case ".cue", ".gdi", ".m3u":
	default:
		return nil
	}
	f, err := os.Open(filepath.Join(s.opts.Source, filepath.FromSlash(rel)))
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSheet))
	if err != nil {
		return nil
	}
	return sheetRefs(rel, data)
}

// stageContent writes a generated source (a playlist) into a new temp file
// in dstDir, as stage does for a library file.
func (c *copier) stageContent(ctx context.Context, dstDir string, a action) (st staged, err error) {
	s := a.Src
	size := int64(len(s.Content))
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if err := c.reserve(dstDir, s.Rel, size); err != nil {
		return st, err
	}
	tmp, err := c.openTemp(dstDir, 0o644)
	if err != nil {
		return st, err
	}
	st.tmp = tmp.path
	defer func() {
		if err != nil {
			tmp.discard()
			st.tmp = ""
		}
	}()
	if err := tmp.write(s.Content, s.Rel, size); err != nil {
		return st, err
	}
	if c.progress != nil {
		c.progress(size)
	}
	c.hashed.Add(size)
	mtime := unix.NsecToTimespec(time.Now().UnixNano())
	if s.ContentTime > 0 {
		mtime = unix.NsecToTimespec(s.ContentTime)
	}
	if err := tmp.finish(mtime, c.perFileSync); err != nil {
		return st, err
	}
	st.act = a
	st.hash = cardstate.Hash(xxhash.Sum64(s.Content))
	st.size = size
	st.srcSize = size
	st.srcMtime = s.Mtime
	return st, nil
}

// sourceHash hashes a source's content: the library file's, or a
// generated source's own.
func (s *Session) sourceHash(src srcFile, buf []byte, hashed *atomic.Int64) (cardstate.Hash, error) {
	if src.Content != nil {
		return cardstate.Hash(xxhash.Sum64(src.Content)), nil
	}
	h, _, err := hashSource(s.opts.Source, &src, buf, hashed)
	return h, err
}

package sync

import (
	"path/filepath"
	"sort"
	stdsync "sync"
	"sync/atomic"

	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// Library files that land on one target name are a conflict (plan): neither
// is copied, both are reported. Where platforms share a device folder
// (MiSTer's Gameboy holds Game Boy and Game Boy Color; the .gb and .gbc
// extensions keep their files apart, so a shared name is rare) the same
// name in both library folders is most often the same file kept twice. When
// every file of such a group holds the same bytes (same size, then the same
// content hash, read), installing one of them loses nothing: one is kept
// (the one the card already holds, else the first by library path) and the
// others are left out of the plan, silently. Files that differ stay a
// conflict: which one the device should get is the user's choice.

// sameHashes remembers the content hash of library files read to compare
// them, by library path, size and mtime: a daemon's passes read each once.
type sameHashes struct {
	mu stdsync.Mutex
	m  map[string]sameHash
}

type sameHash struct {
	size, mtime int64
	hash        cardstate.Hash
}

func (c *sameHashes) get(f *srcFile) (cardstate.Hash, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[f.Rel]
	return h.hash, ok && h.size == f.Size && h.mtime == f.Mtime
}

func (c *sameHashes) put(f *srcFile, h cardstate.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]sameHash{}
	}
	c.m[f.Rel] = sameHash{f.Size, f.Mtime, h}
}

// dropSameContent leaves out of u's sources the files that share a target
// name with files of identical content (see above).
func (s *Session) dropSameContent(u *unit, cp chan *copier, hashed *atomic.Int64) {
	first := make(map[string]int, len(u.Sources))
	groups := map[string][]int{} // only keys two files share: the rare case
	for i, f := range u.Sources {
		j, dup := first[f.Key]
		switch {
		case !dup:
			first[f.Key] = i
		case groups[f.Key] == nil:
			groups[f.Key] = []int{j, i}
		default:
			groups[f.Key] = append(groups[f.Key], i)
		}
	}
	drop := map[int]bool{}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		keep, ok := s.sameGroup(u, g, cp, hashed)
		if !ok {
			continue
		}
		for _, i := range g {
			if i != keep {
				drop[i] = true
				s.log.Debug("same content as another library file with the same target name: one copy", "profile", s.opts.Profile,
					"path", u.Sources[i].Rel, "installs", u.Sources[keep].Rel, "target", join(u.Dir, u.Sources[keep].Name))
			}
		}
	}
	if len(drop) == 0 {
		return
	}
	kept := make([]srcFile, 0, len(u.Sources)-len(drop))
	for i, f := range u.Sources {
		if !drop[i] {
			kept = append(kept, f)
		}
	}
	u.Sources = kept
}

// sameGroup reports whether the sources g of u (one target name) all hold
// the same bytes, and which one to install.
func (s *Session) sameGroup(u *unit, g []int, cp chan *copier, hashed *atomic.Int64) (keep int, same bool) {
	for _, i := range g[1:] {
		if u.Sources[i].Size != u.Sources[g[0]].Size {
			return 0, false
		}
	}
	sort.Slice(g, func(a, b int) bool { return u.Sources[g[a]].Rel < u.Sources[g[b]].Rel })
	keep = g[0]
	entries := s.target.Entries(u.Dir)
	var want cardstate.Hash
	for n, i := range g {
		f := &u.Sources[i]
		h, ok := s.sameHashes.get(f)
		if e := entries[f.Name]; e != nil && e.Installed() && e.Pending == nil && e.Source == f.Rel && e.SrcSize == f.Size && e.SrcMtime == f.Mtime {
			// What the card holds was read from this very version: it
			// stays, and its hash is known.
			h, ok = e.Target.Hash, true
			keep = i
		}
		if !ok {
			c := <-cp
			var read int64
			var err error
			h, read, err = hashFile(filepath.Join(s.opts.Source, filepath.FromSlash(f.Rel)), c.buffer(), hashed)
			cp <- c
			if err != nil || read != f.Size {
				return 0, false // the plan reports the conflict; the copy, a read problem
			}
			s.sameHashes.put(f, h)
		}
		if n == 0 {
			want = h
		} else if h != want {
			return 0, false
		}
	}
	return keep, true
}

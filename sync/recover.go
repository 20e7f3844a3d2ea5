package sync

import (
	"path/filepath"
	"sync/atomic"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// recoverPending decides, by content, what an install interrupted between
// its manifest record and its rename left under the final name: the new
// version (now installed), the old one (the install is dropped), or
// neither (the plan repairs a file of ours; a new name is not ours).
func (s *Session) recoverPending(dir, abs string, listing map[string]targetStat, cp chan *copier, hashed *atomic.Int64) error {
	pending := s.target.Pending(dir)
	for name, e := range pending {
		pend := e.Pending
		st, ok := listing[name]
		if !ok || st.Dir {
			s.target.Set(dir, name, e.WithoutPending())
			continue
		}
		c := <-cp
		h, n, err := hashFile(filepath.Join(abs, name), c.buffer(), hashed)
		cp <- c
		if err != nil {
			return outcome.OfTarget(abs, err)
		}
		if h == pend.Hash && n == pend.Size {
			s.target.Set(dir, name, &cardstate.Entry{Source: pend.Source, SrcSize: pend.SrcSize, SrcMtime: pend.SrcMtime,
				Target: cardstate.Version{Size: st.Size, Mtime: st.Mtime, Hash: h}})
		} else {
			s.target.Set(dir, name, e.WithoutPending())
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return outcome.OfTarget(abs, s.target.Save(dir, true))
}

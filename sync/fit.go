package sync

import (
	"fmt"

	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

// fit leaves out of the plan the copies the card cannot hold, so that a
// nearly full card gets every file that fits and one line for each that
// does not, and a dry run plans exactly what the pass will copy:
//   - a file larger than the card's filesystem holds (4 GiB on FAT32);
//   - a file for which the free space statfs reports, less what the copies
//     planned before it take and the reserve kept for romsyncd's
//     manifests, is too small. Folders are taken in order; a large file
//     that does not fit does not keep the smaller ones after it out.
//
// A card that fills up during the pass beyond what statfs promised (another
// writer) still stops the pass with ErrTargetFull.
func (s *Session) fit(planned []*folderRun, rep *Report) {
	avail, known := int64(0), false
	if free, err := targetfs.Free(s.target.Root()); err == nil {
		avail, known = int64(free)-freeReserve, true
	}
	games := s.gameFit(planned) // game folders fit whole or not at all (gamefit.go)
	for _, fr := range planned {
		kept := fr.plan.Actions[:0]
		for _, a := range fr.plan.Actions {
			if a.Src == nil || (a.Kind != KindCopy && a.Kind != KindReplace) {
				kept = append(kept, a)
				continue
			}
			size := a.Src.installSize()
			if g := games.of(a.Src); g != nil {
				if games.fits(g, &avail, known, rep) {
					kept = append(kept, a)
				}
				continue
			}
			switch {
			case s.opts.MaxFileSize > 0 && size > s.opts.MaxFileSize:
				fr.skip(rep, a, outcome.TooLarge, (&tooLargeError{size: size, max: s.opts.MaxFileSize}).Error())
				continue
			case known && size > avail:
				fr.skip(rep, a, outcome.NoRoom, fmt.Sprintf("does not fit: needs %s, the card has %s free", bytesize.Format(size), bytesize.Format(max(avail, 0))))
				continue
			}
			avail -= size
			kept = append(kept, a)
		}
		fr.plan.Actions = kept
	}
}

package sync

import (
	"fmt"
	"strings"

	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// A platform whose games are folders (Options.GameFolders: DOS, ScummVM)
// has one game per direct sub-folder of its platform folder:
// DOS/Doom/DOOM.EXE, DOS/Doom/DOOM.WAD, DOS/Doom/DATA/…. Half a game does
// not start, so fit plans such a folder as a unit: the copies of all its
// files, sub-folders included, fit together or none is made, with one line
// saying why.

// gameFolder is one game folder's planned copies.
type gameFolder struct {
	rel      string // library game folder: <platform folder>/<game>
	need     int64  // bytes its planned copies write
	files    int
	tooLarge *tooLargeError // a file the target filesystem cannot hold
	decided  bool
	fits     bool
}

// gameFit is the game folders of a pass's plan, by library path.
type gameFit struct {
	s     *Session
	games map[string]*gameFolder
}

// gameFolderOf returns the library game folder a library file belongs to,
// "" when it is in none.
func (s *Session) gameFolderOf(rel string) string {
	if s.opts.GameFolders == nil {
		return ""
	}
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) < 3 || !s.opts.GameFolders(parts[0]) {
		return ""
	}
	return parts[0] + "/" + parts[1]
}

// gameFit gathers the planned copies of every game folder (nil when the
// plan has none).
func (s *Session) gameFit(planned []*folderRun) *gameFit {
	if s.opts.GameFolders == nil {
		return nil
	}
	var gf *gameFit
	for _, fr := range planned {
		for _, a := range fr.plan.Actions {
			if a.Src == nil || (a.Kind != KindCopy && a.Kind != KindReplace) {
				continue
			}
			rel := s.gameFolderOf(a.Src.Rel)
			if rel == "" {
				continue
			}
			if gf == nil {
				gf = &gameFit{s: s, games: map[string]*gameFolder{}}
			}
			g := gf.games[rel]
			if g == nil {
				g = &gameFolder{rel: rel}
				gf.games[rel] = g
			}
			size := a.Src.installSize()
			g.need += size
			g.files++
			if limit := s.opts.MaxFileSize; limit > 0 && size > limit && g.tooLarge == nil {
				g.tooLarge = &tooLargeError{size: size, max: limit}
			}
		}
	}
	return gf
}

// of returns the game folder of a planned copy's library file, nil when it
// is in none.
func (gf *gameFit) of(src *srcFile) *gameFolder {
	if gf == nil {
		return nil
	}
	return gf.games[gf.s.gameFolderOf(src.Rel)]
}

// fits decides, the first time one of its files comes up, whether game g
// fits whole in what the card has left (avail, when known), takes its room
// if so, and reports it once if not.
func (gf *gameFit) fits(g *gameFolder, avail *int64, known bool, rep *Report) bool {
	if g.decided {
		return g.fits
	}
	g.decided = true
	var why outcome.Skip
	var reason string
	switch {
	case g.tooLarge != nil:
		why, reason = outcome.TooLarge, fmt.Sprintf("game folder not copied: one of its files is %s; a game is copied whole or not at all", g.tooLarge.Error())
	case known && g.need > *avail:
		why, reason = outcome.NoRoom, fmt.Sprintf("game folder does not fit: needs %s for its %d files, the card has %s free; a game is copied whole or not at all",
			bytesize.Format(g.need), g.files, bytesize.Format(max(*avail, 0)))
	default:
		*avail -= g.need
		g.fits = true
		return true
	}
	target := ""
	if dir, ok, _, _ := gf.s.mapDir(g.rel); ok {
		target = dir
	}
	rep.add(func(r *Report) {
		r.Skipped = append(r.Skipped, Item{Path: g.rel, Target: target, Reason: reason, Skip: why})
	})
	return false
}

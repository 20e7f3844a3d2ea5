package saves

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// Options say which card to back up, how, and where to.
type Options struct {
	// Target is the profile's target: the card's ROM root, which holds
	// romsyncd's .romsyncd folder. The card's root is found from it and the
	// layout.
	Target string
	// Layout is the profile's layout name or alias.
	Layout string
	// Backup is the backup root; BACKUP/<card-id>/ holds one card's saves.
	// It must exist (an unmounted backup disk is never filled in).
	Backup string
	// States backs up save states too.
	States bool
	// Keep is how many versions of each save are kept (romsyncd-written
	// versions only, oldest pruned first, never the newest); 0 keeps all.
	Keep int
	// Log receives one line per version written; nil discards.
	Log *slog.Logger
}

// Report says what one backup did.
type Report struct {
	Card      string        `json:"card"`      // card id
	CardRoot  string        `json:"card_root"` // the card's root folder
	Seen      int           `json:"seen"`      // save files found on the card
	BackedUp  int           `json:"backed_up"` // new versions written
	Unchanged int           `json:"unchanged"` // same size and mtime as last time: not read
	Same      int           `json:"same"`      // read, content already held: no new version
	Pruned    int           `json:"pruned"`    // old versions removed (keep: N)
	Bytes     int64         `json:"bytes"`     // bytes copied
	Changing  []string      `json:"changing,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
}

// How a save that changes while it is read is retried.
const (
	changeAttempts = 4
	changeBackoff  = 200 * time.Millisecond
	indexEvery     = 64 // new versions between two index writes
)

// found is one save file on the card.
type found struct {
	rel      string // relative to the card root, slash-separated
	kind     Kind
	platform string
	game     string
	stem     string
	suffix   string
	size     int64
	mtime    int64
}

// run is one backup of one card.
type run struct {
	o     Options
	card  string // card root
	dir   string // BACKUP/<card-id>
	ix    *Index
	rep   *Report
	buf   []byte
	dirty int
	log   *slog.Logger
}

// Backup copies every new or changed save (and state, with States) of the
// card at o.Target into o.Backup/<card-id>/<platform>/<game>/, as a new
// verified version. It never writes to the card. A save that keeps
// changing while it is read is left for the next run (Report.Changing); a
// full backup disk stops the run with ErrBackupFull, the card untouched and
// what was copied recorded.
func Backup(ctx context.Context, o Options) (rep Report, err error) {
	start := time.Now()
	defer func() { rep.Duration = time.Since(start) }()
	r, unlock, err := open(o, &rep)
	if err != nil {
		return rep, err
	}
	defer unlock()
	files, err := r.scan()
	if err != nil {
		return rep, err
	}
	defer func() {
		if r.dirty > 0 {
			if serr := r.ix.save(r.dir); serr != nil && err == nil {
				err = r.full(serr)
			}
		}
	}()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := r.one(ctx, f); err != nil {
			return rep, r.gone(err)
		}
	}
	if o.Keep > 0 {
		r.prune()
	}
	return rep, nil
}

// open checks the card and the backup disk, takes the card's backup lock
// and loads its index.
func open(o Options, rep *Report) (*run, func(), error) {
	locs, err := Locations(o.Layout)
	if err != nil {
		return nil, nil, err
	}
	st, err := os.Stat(o.Target)
	if err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("%w: target %s is not there (card removed or unmounted?)", ErrNoCard, o.Target)
	}
	card, err := cardRoot(o.Target, locs[0].Roms)
	if err != nil {
		return nil, nil, err
	}
	id, err := CardID(o.Target)
	if err != nil {
		return nil, nil, err
	}
	if b := filepath.Clean(o.Backup); b == card || strings.HasPrefix(b, card+string(filepath.Separator)) {
		return nil, nil, fmt.Errorf("save backup folder %s is on the card (%s): the backup must live off the card", o.Backup, card)
	}
	if st, err := os.Stat(o.Backup); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("save backup folder %s is not there (a disk not mounted?): create it, or fix saves.backup", o.Backup)
	}
	dir := filepath.Join(o.Backup, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("save backup of card %s: %w", id, fullErr(err))
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	ix, err := loadIndex(dir)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	ix.Card = id
	ix.Layout = locs[0].Layout
	rep.Card, rep.CardRoot = id, card
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &run{o: o, card: card, dir: dir, ix: ix, rep: rep, buf: make([]byte, 1<<20), log: log}, unlock, nil
}

// one backs up one save file found on the card.
func (r *run) one(ctx context.Context, f found) error {
	r.rep.Seen++
	e := r.ix.Files[f.rel]
	if e != nil && e.Size == f.size && e.Mtime == f.mtime {
		r.rep.Unchanged++
		return nil
	}
	if e == nil {
		e = &FileEntry{}
		r.ix.Files[f.rel] = e
	}
	e.Kind, e.Platform, e.Game = f.kind, f.platform, f.game
	err := r.copy(ctx, f, e)
	switch {
	case errors.Is(err, ErrChanging):
		r.rep.Changing = append(r.rep.Changing, f.rel)
		r.log.Warn("save kept changing while it was read; it is backed up on a later run", "card", r.rep.Card, "save", f.rel)
		return nil
	case err != nil:
		return err
	}
	r.dirty++
	if r.dirty%indexEvery == 0 {
		if err := r.ix.save(r.dir); err != nil {
			return r.full(err)
		}
	}
	return nil
}

// copy reads the save (hash first: content already held is not copied
// again), then installs a verified copy as a new version, and records it
// in e. Returns ErrChanging when the save kept changing.
func (r *run) copy(ctx context.Context, f found, e *FileEntry) error {
	src := filepath.Join(r.card, filepath.FromSlash(f.rel))
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt == changeAttempts {
				return fmt.Errorf("%s: %w", f.rel, ErrChanging)
			}
			if err := sleep(ctx, changeBackoff*time.Duration(attempt)); err != nil {
				return err
			}
			st, err := os.Lstat(src)
			if err != nil {
				return fmt.Errorf("save %s: %w", f.rel, err)
			}
			f.size, f.mtime = st.Size(), st.ModTime().UnixNano()
		}
		h, n, err := hashCardFile(src, r.buf)
		if err != nil {
			return fmt.Errorf("save %s: %w", f.rel, err)
		}
		if st, err := os.Lstat(src); err != nil || st.Size() != f.size || st.ModTime().UnixNano() != f.mtime || n != f.size {
			continue // changed while hashed
		}
		if e.withHash(h) != nil {
			e.Size, e.Mtime, e.Hash = f.size, f.mtime, h
			r.rep.Same++
			return nil
		}
		v, err := r.install(ctx, src, f, h)
		if errors.Is(err, romsync.ErrSourceChanged) || errors.Is(err, errRaced) {
			continue
		}
		if err != nil {
			return err
		}
		e.Versions = append(e.Versions, v)
		e.Size, e.Mtime, e.Hash = f.size, f.mtime, h
		r.rep.BackedUp++
		r.rep.Bytes += v.Size
		r.log.Info("save backed up", "card", r.rep.Card, "save", f.rel, "version", v.File, "bytes", v.Size)
		return nil
	}
}

// errRaced: the save changed between its hash and its copy.
var errRaced = errors.New("save changed between hash and copy")

// install writes the verified copy of src under its version name.
func (r *run) install(ctx context.Context, src string, f found, h cardstate.Hash) (*Version, error) {
	gameDir := path.Join(safeName(f.platform), safeName(f.game))
	if err := os.MkdirAll(filepath.Join(r.dir, filepath.FromSlash(gameDir)), 0o755); err != nil {
		return nil, r.full(fmt.Errorf("save backup %s: %w", gameDir, err))
	}
	for n := 0; n < 100; n++ {
		rel := path.Join(gameDir, versionName(f.stem, f.suffix, f.mtime, h, n))
		dst := filepath.Join(r.dir, filepath.FromSlash(rel))
		c, err := romsync.CopyVerified(ctx, src, dst)
		switch {
		case errors.Is(err, fs.ErrExist):
			// A version file the index does not list (a run cut before its
			// index was written): adopt it when it holds this content.
			if got, size, herr := hashCardFile(dst, r.buf); herr == nil && got == h && size == f.size {
				return &Version{File: rel, Size: size, Mtime: f.mtime, Hash: h, BackedUp: time.Now().UTC().Truncate(time.Second)}, nil
			}
			continue
		case err != nil:
			return nil, r.full(fmt.Errorf("back up %s: %w", f.rel, err))
		}
		if c.Hash != h || c.Mtime != f.mtime || c.Size != f.size {
			os.Remove(dst) // our own file, with a name that lies about its content
			return nil, errRaced
		}
		return &Version{File: rel, Size: c.Size, Mtime: c.Mtime, Hash: c.Hash, BackedUp: time.Now().UTC().Truncate(time.Second)}, nil
	}
	return nil, fmt.Errorf("back up %s: too many versions with the same name in %s", f.rel, gameDir)
}

// gone says so when an error came from the card going away (its marker,
// or its ROM root, no longer there).
func (r *run) gone(err error) error {
	if errors.Is(err, ErrBackupFull) || errors.Is(err, context.Canceled) {
		return err
	}
	_, terr := os.Stat(r.o.Target)
	_, merr := os.Stat(filepath.Join(r.o.Target, cardstate.MetaDirName, cardstate.MarkerName))
	byMarker := !strings.HasPrefix(r.rep.Card, "uuid-") // else the card never had one
	if terr != nil || (byMarker && merr != nil) {
		return fmt.Errorf("%w: card %s removed during the save backup (%d new versions kept; the next run goes on): %w", ErrNoCard, r.rep.Card, r.rep.BackedUp, err)
	}
	return err
}

// full turns a full backup disk into ErrBackupFull, with what to do.
func (r *run) full(err error) error {
	if errors.Is(err, romsync.ErrSourceChanged) {
		return err
	}
	return fullErr(err)
}

func fullErr(err error) error {
	if errors.Is(err, outcome.ErrTargetFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w; the card is untouched: free space (or lower saves.keep) and the next run completes the backup", ErrBackupFull, err)
	}
	return err
}

// versionName is a version's file name: the save's own name with the
// save's mtime (UTC) and a short content hash before its suffix, so that a
// folder sorts by date: "Tetris (World)@20261129T041005Z-1a2b3c4d.srm".
func versionName(stem, suffix string, mtime int64, h cardstate.Hash, n int) string {
	stamp := time.Unix(0, mtime).UTC().Format("20060102T150405Z")
	extra := ""
	if n > 0 {
		extra = fmt.Sprintf("~%d", n)
	}
	return fmt.Sprintf("%s@%s-%s%s%s", stem, stamp, h.String()[:8], extra, suffix)
}

// safeName keeps a folder name from the card usable as one folder here.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// prune removes the oldest romsyncd-written versions of each save beyond
// Keep, never the newest, and never a file another save still lists.
func (r *run) prune() {
	refs := map[string]int{}
	for _, e := range r.ix.Files {
		for _, v := range e.Versions {
			refs[v.File]++
		}
	}
	dirs := map[string]bool{}
	for rel, e := range r.ix.Files {
		if len(e.Versions) <= r.o.Keep {
			continue
		}
		e.sortVersions()
		cut := len(e.Versions) - r.o.Keep
		var kept []*Version
		for i, v := range e.Versions {
			if i >= cut {
				kept = append(kept, v)
				continue
			}
			refs[v.File]--
			if refs[v.File] == 0 {
				p := filepath.Join(r.dir, filepath.FromSlash(v.File))
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					r.log.Warn("prune old save version", "file", p, "err", err)
					refs[v.File]++
					kept = append(kept, v)
					continue
				}
				dirs[filepath.Dir(p)] = true
			}
			r.rep.Pruned++
			r.log.Info("old save version pruned", "card", r.rep.Card, "save", rel, "version", v.File)
		}
		e.Versions = kept
		r.dirty++
	}
	for d := range dirs {
		_ = cardstate.FsyncDir(d)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

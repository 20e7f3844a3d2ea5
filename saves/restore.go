package saves

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"golang.org/x/sys/unix"
)

// Listed is one backed-up version, as `romsyncd saves list` shows it.
type Listed struct {
	Card     string    `json:"card"`
	Save     string    `json:"save"` // path on the card, relative to its root
	Kind     Kind      `json:"kind"`
	Platform string    `json:"platform"`
	Game     string    `json:"game"`
	File     string    `json:"file"` // relative to BACKUP/<card>
	Size     int64     `json:"size"`
	Mtime    time.Time `json:"mtime"` // the save's mtime on the card
	BackedUp time.Time `json:"backed_up"`
	Newest   bool      `json:"newest"`
}

// List returns the versions held under backup for card ("" = every card),
// whose game contains game (case-insensitive; "" = all), oldest first per
// save.
func List(backup, card, game string) ([]Listed, error) {
	cards := []string{card}
	if card == "" {
		ents, err := os.ReadDir(backup)
		if err != nil {
			return nil, fmt.Errorf("save backup %s: %w", backup, err)
		}
		cards = cards[:0]
		for _, e := range ents {
			if e.IsDir() {
				cards = append(cards, e.Name())
			}
		}
	}
	var out []Listed
	for _, c := range cards {
		ix, err := loadIndex(filepath.Join(backup, c))
		if err != nil {
			return nil, err
		}
		for _, rel := range sortedKeys(ix.Files) {
			e := ix.Files[rel]
			if game != "" && !strings.Contains(strings.ToLower(e.Game), strings.ToLower(game)) {
				continue
			}
			e.sortVersions()
			for i, v := range e.Versions {
				out = append(out, Listed{Card: c, Save: rel, Kind: e.Kind, Platform: e.Platform, Game: e.Game, File: v.File,
					Size: v.Size, Mtime: time.Unix(0, v.Mtime).UTC(), BackedUp: v.BackedUp, Newest: i == len(e.Versions)-1})
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RestoreOptions say what to put back on a card.
type RestoreOptions struct {
	Options
	// Card is the card id whose backup to restore from; "" = the inserted
	// card's own.
	Card string
	// Game selects the saves: a game name, matched exactly (ignoring case),
	// else as a unique substring.
	Game string
	// Version selects one version: its file name or a part of it (the
	// date "20261129T0410", the short hash). "" = the newest of each save.
	Version string
}

// Restored is one file restore wrote onto the card.
type Restored struct {
	Save    string `json:"save"`             // path on the card, relative to its root
	Version string `json:"version"`          // the version written
	Backup  string `json:"backup,omitempty"` // the card's previous file, backed up first
}

// Restore writes backed-up versions of a game's saves back onto the card
// with the verified install, after first backing up the card's current
// files (so nothing on the card is lost). It is the only code of romsyncd
// that writes a file it did not install.
func Restore(ctx context.Context, o RestoreOptions) ([]Restored, error) {
	// Back up the card's current state first: every changed save becomes a
	// version, the card's current file of the game included.
	rep, err := Backup(ctx, o.Options)
	if err != nil {
		return nil, fmt.Errorf("restore: back up the card first: %w", err)
	}
	if len(rep.Changing) > 0 {
		return nil, fmt.Errorf("restore: %w: %s; stop the game and try again", ErrChanging, strings.Join(rep.Changing, ", "))
	}
	from := o.Card
	if from == "" {
		from = rep.Card
	}
	picks, err := pick(o.Backup, from, o.Game, o.Version, o.States)
	if err != nil {
		return nil, err
	}
	r, unlock, err := open(o.Options, &Report{})
	if err != nil {
		return nil, err
	}
	defer unlock()
	unlockCard, err := lockCard(o.Target)
	if err != nil {
		return nil, err
	}
	defer unlockCard()
	var out []Restored
	for _, p := range picks {
		dst := filepath.Join(r.card, filepath.FromSlash(p.rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return out, fmt.Errorf("restore %s: %w", p.rel, err)
		}
		src := filepath.Join(o.Backup, from, filepath.FromSlash(p.v.File))
		c, err := romsync.ReplaceVerified(ctx, src, dst)
		if err != nil {
			return out, fmt.Errorf("restore %s: %w", p.rel, err)
		}
		if c.Hash != p.v.Hash {
			return out, fmt.Errorf("restore %s: version %s holds hash %s, its index says %s", p.rel, p.v.File, c.Hash, p.v.Hash)
		}
		res := Restored{Save: p.rel, Version: p.v.File}
		if e := r.ix.Files[p.rel]; e != nil {
			if nv := e.newest(); nv != nil && nv.Hash != p.v.Hash {
				res.Backup = nv.File
			}
		}
		// The card now holds this version: record it, so the next backup
		// does not read it again.
		if st, err := os.Stat(dst); err == nil && from == r.rep.Card {
			if e := r.ix.Files[p.rel]; e != nil {
				e.Size, e.Mtime, e.Hash = st.Size(), st.ModTime().UnixNano(), c.Hash
				r.dirty++
			}
		}
		out = append(out, res)
	}
	if r.dirty > 0 {
		if err := r.ix.save(r.dir); err != nil {
			return out, err
		}
	}
	return out, nil
}

type picked struct {
	rel string
	v   *Version
}

// pick chooses the versions to restore.
func pick(backup, card, game, version string, states bool) ([]picked, error) {
	ix, err := loadIndex(filepath.Join(backup, card))
	if err != nil {
		return nil, err
	}
	if len(ix.Files) == 0 {
		return nil, fmt.Errorf("%w: the backup %s holds nothing for card %s", ErrNotFound, backup, card)
	}
	var exact, partial []string
	g := strings.ToLower(game)
	for _, rel := range sortedKeys(ix.Files) {
		e := ix.Files[rel]
		switch lg := strings.ToLower(e.Game); {
		case lg == g:
			exact = append(exact, rel)
		case strings.Contains(lg, g):
			partial = append(partial, rel)
		}
	}
	rels := exact
	if len(rels) == 0 {
		games := map[string]bool{}
		for _, rel := range partial {
			games[ix.Files[rel].Game] = true
		}
		if len(games) > 1 {
			return nil, fmt.Errorf("game %q matches several games (%s): name one", game, strings.Join(sortedKeys(games), "; "))
		}
		rels = partial
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("%w: no game matching %q in the backup of card %s (see `romsyncd saves list`)", ErrNotFound, game, card)
	}
	var out []picked
	for _, rel := range rels {
		e := ix.Files[rel]
		if version == "" {
			if e.Kind == KindState && !states {
				continue
			}
			if v := e.newest(); v != nil {
				out = append(out, picked{rel, v})
			}
			continue
		}
		for _, v := range e.Versions {
			if strings.Contains(v.File, version) {
				out = append(out, picked{rel, v})
			}
		}
	}
	switch {
	case len(out) == 0 && version != "":
		return nil, fmt.Errorf("%w: no version %q of %q (see `romsyncd saves list --game %q`)", ErrNotFound, version, game, game)
	case len(out) == 0:
		return nil, fmt.Errorf("%w: no save of %q to restore", ErrNotFound, game)
	case version != "" && len(out) > 1:
		seen := map[string]bool{}
		for _, p := range out {
			if seen[p.rel] {
				return nil, fmt.Errorf("version %q matches several versions of %s: give more of its name", version, p.rel)
			}
			seen[p.rel] = true
		}
	}
	return out, nil
}

// lockCard takes the card's romsyncd lock (<target>/.romsyncd/lock, the
// one a sync pass holds), so that a restore never writes while a pass
// runs. A card without a lock file is not written to for one.
func lockCard(target string) (func(), error) {
	p := filepath.Join(target, cardstate.MetaDirName, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock card %s: %w", p, err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		return nil, fmt.Errorf("restore: a sync pass is running on the card (lock %s); try again when it ends", p)
	case err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.ENOLCK):
		f.Close()
		return nil, fmt.Errorf("lock card %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

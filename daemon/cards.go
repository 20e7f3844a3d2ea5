package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	stdsync "sync"
	"time"

	"github.com/romsyncd/romsyncd/cards"
	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/eject"
	"github.com/romsyncd/romsyncd/mounts"
	desktop "github.com/romsyncd/romsyncd/notify"
	"github.com/romsyncd/romsyncd/profiles"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/targetfs"
)

// cardWatch finds the cards of the profiles with `cards:` wherever they
// are mounted (docs/CARDS.md; it looks at mounts only while such a profile
// exists, and again after a reload): every mount is looked at for a romsyncd
// marker, a card gets a runner of its own while it is mounted, and an
// unmarked card is written only when a profile's adoption rule takes it.
type cardWatch struct {
	d      *Daemon
	reg    *cards.Registry
	notify *desktop.Notifier // nil: no desktop session (the system unit)

	wg stdsync.WaitGroup // identifications in flight
	mu stdsync.Mutex
	at map[string][]string // mount point -> the runners of its cards
	// shares: per cards profile, what its cards' passes share, so that
	// cards synced at once read each library file from the disk once.
	shares map[string]*romsync.Share
}

// share returns the Share of the cards of profile.
func (cw *cardWatch) share(profile string) *romsync.Share {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.shares == nil {
		cw.shares = map[string]*romsync.Share{}
	}
	if cw.shares[profile] == nil {
		cw.shares[profile] = romsync.NewShare()
	}
	return cw.shares[profile]
}

// hasCardProfiles reports whether any profile finds its targets on cards.
func hasCardProfiles(cfg *config.Config) bool {
	for _, p := range cfg.Profiles {
		if p.Cards != nil {
			return true
		}
	}
	return false
}

// watchCards follows the mount table until ctx ends.
func (d *Daemon) watchCards(ctx context.Context) error {
	reg, err := cards.OpenRegistry(profiles.StateDir(d.currentConfig()))
	if err != nil {
		return err
	}
	cw := &cardWatch{d: d, reg: reg, at: map[string][]string{}}
	if n, err := desktop.Open("romsyncd"); err == nil {
		cw.notify = n
		defer n.Close()
	} else {
		d.log.Debug("no desktop notifications", "err", err)
	}
	w, err := mounts.Open()
	if err != nil {
		return fmt.Errorf("watch mounts: %w", err)
	}
	defer w.Close()
	d.mu.Lock()
	d.cards = cw
	d.mu.Unlock()
	defer cw.wg.Wait()
	for _, m := range w.Mounts() {
		cw.mounted(ctx, m)
	}
	return w.Run(ctx, func(ev mounts.Event) {
		switch ev.Kind {
		case mounts.Mounted:
			cw.mounted(ctx, ev.Mount)
		case mounts.Unmounted:
			cw.unmounted(ev.Mount)
		}
	})
}

// rescan looks at every mount again (after a reload: a profile may now
// take cards it did not).
func (cw *cardWatch) rescan(ctx context.Context) {
	ms, err := mounts.List()
	if err != nil {
		cw.d.log.Warn("list mounts", "err", err)
		return
	}
	for _, m := range ms {
		cw.mounted(ctx, m)
	}
}

// mounted looks for romsyncd cards on a new mount, on a goroutine of its
// own: a hung FUSE card must not stall the mount watcher.
func (cw *cardWatch) mounted(ctx context.Context, m mounts.Mount) {
	if !cards.MayBeCard(m) || !hasCardProfiles(cw.d.currentConfig()) {
		return // no profile takes cards (a reload may add one: rescan)
	}
	cw.wg.Go(func() { cw.identify(ctx, m) })
}

func (cw *cardWatch) identify(ctx context.Context, m mounts.Mount) {
	log := cw.d.log.With("mount", m.MountPoint)
	found, err := cards.Identify(m)
	switch {
	case errors.Is(err, cards.ErrNoMarker):
		cfg := cw.d.currentConfig()
		p, ok := cards.Adoptable(m, cfg.Profiles)
		if !ok {
			return // an unknown card is never written to
		}
		c, err := cw.adopt(ctx, cfg, p, m)
		if err != nil {
			log.Warn("adopt card", "profile", p.Name, "err", err)
			return
		}
		found = []cards.Card{c}
	case err != nil:
		log.Warn("card not used: its marker cannot be read", "err", err)
		return
	}
	for _, c := range found {
		cw.start(ctx, c)
	}
}

// adopt makes an unmarked card that a profile's rule takes the profile's:
// `romsyncd init` on the layout's ROM folder (created only on the card).
func (cw *cardWatch) adopt(ctx context.Context, cfg *config.Config, p *config.Profile, m mounts.Mount) (cards.Card, error) {
	root, _ := cards.TargetOn(m.MountPoint, p.Layout)
	pc := *p
	pc.Target = root
	opts, err := profiles.Options(cfg, &pc, cw.d.log)
	if err != nil {
		return cards.Card{}, err
	}
	if _, err := romsync.Init(ctx, opts); err != nil {
		return cards.Card{}, err
	}
	cw.d.log.Info("card adopted", "profile", p.Name, "label", m.Label, "uuid", m.UUID, "target", root)
	found, err := cards.Identify(m)
	if err != nil || len(found) == 0 {
		return cards.Card{}, fmt.Errorf("adopted card %s not found again: %v", root, err)
	}
	return found[0], nil
}

// start runs a runner for a card of a profile that takes cards.
func (cw *cardWatch) start(ctx context.Context, c cards.Card) {
	d := cw.d
	name := cardRunnerName(c.Profile, c)
	// A runner of this card at another place (its unmount came before the
	// look at its old mount ended) is stopped first.
	d.mu.Lock()
	old := d.runners[name]
	d.mu.Unlock()
	if old != nil && old.profile.Target != c.Root {
		d.stopRunner(name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ctx.Err() != nil {
		return // shutting down: no runner starts after the others stopped
	}
	p, ok := d.cfg.Profile(c.Profile)
	switch {
	case ok && p.Cards == nil:
		return // a fixed target's card: its own runner keeps it
	case !ok:
		d.log.Warn("card not used: its marker names a profile this configuration does not have", "mount", c.Mount.MountPoint, "profile", c.Profile)
		return
	}
	if _, running := d.runners[name]; running {
		return
	}
	pc := *p
	pc.Target = c.Root
	label := cardLabel(c)
	free, _ := targetfs.Free(c.Root)
	if err := cw.reg.Seen(c, free, time.Now()); err != nil {
		d.log.Warn("card registry", "err", err)
	}
	d.log.Info("card inserted", "profile", p.Name, "card", label, "target", c.Root)
	d.startRunnerLocked(ctx, name, pc, &cardRun{card: c, label: label, eject: p.Eject, watch: cw, share: cw.share(p.Name)})
	cw.mu.Lock()
	cw.at[c.Mount.MountPoint] = append(cw.at[c.Mount.MountPoint], name)
	cw.mu.Unlock()
}

// unmounted stops the runners of the cards that were mounted there. A
// pass cut short by a pulled card resumes on the next insertion, wherever
// the card is mounted then.
func (cw *cardWatch) unmounted(m mounts.Mount) {
	cw.mu.Lock()
	names := cw.at[m.MountPoint]
	delete(cw.at, m.MountPoint)
	cw.mu.Unlock()
	for _, name := range names {
		if r := cw.d.stopRunner(name); r != nil && r.card != nil {
			if err := cw.reg.Gone(r.card.card.ID, time.Now()); err != nil {
				cw.d.log.Warn("card registry", "err", err)
			}
			cw.d.log.Info("card removed", "profile", r.profile.Name, "card", r.card.label)
		}
	}
}

// cardRunnerName names a card's runner in status and metrics: the profile
// and the card's marker id (two cards of one label are told apart).
func cardRunnerName(profile string, c cards.Card) string {
	id := c.ID
	if len(id) > 8 {
		id = id[:8]
	}
	return profile + "@" + id
}

// cardLabel is what a user knows a card by: its filesystem label, else
// the name of its mount point.
func cardLabel(c cards.Card) string {
	if c.Mount.Label != "" {
		return c.Mount.Label
	}
	return filepath.Base(c.Mount.MountPoint)
}

// ejectTimeout bounds an eject (udisks unmounts, then powers the drive
// off or deletes the loop device).
const ejectTimeout = 30 * time.Second

// cardRun is what a runner of a card knows of it.
type cardRun struct {
	card  cards.Card
	label string
	eject bool
	watch *cardWatch
	share *romsync.Share // the passes of the profile's other cards

	safe     bool   // the last pass left the card in sync and durable (runner.mu)
	notified uint32 // the id of the desktop notification shown for the card
}

// syncing says, before a pass, that the card must stay in.
func (c *cardRun) syncing(r *runner) {
	r.setState(func(*runState) { c.safe = false })
	if n := c.watch.notify; n != nil && c.notified == 0 {
		m := desktop.Syncing(c.label, r.profile.Name)
		if id, err := n.Notify(context.Background(), m); err == nil {
			c.notified = id
		}
	}
}

// done runs after a pass: a card in sync is durable (every folder and
// manifest fsynced, the card released), so romsyncd says it is safe to
// remove — log, status, registry, desktop — and ejects it when asked.
func (c *cardRun) done(ctx context.Context, r *runner, rep *romsync.Report, err error) {
	if err != nil || !rep.InSync || r.dirtyCount() > 0 {
		return
	}
	r.setState(func(*runState) { c.safe = true })
	free, _ := targetfs.Free(c.card.Root)
	if rerr := c.watch.reg.InSync(c.card.ID, free, time.Now()); rerr != nil {
		r.log.Warn("card registry", "err", rerr)
	}
	r.log.Info("card in sync, safe to remove", "card", c.label)
	if n := c.watch.notify; n != nil {
		m := desktop.SafeToRemove(c.label, r.profile.Name)
		m.Replaces = c.notified
		if _, nerr := n.Notify(context.Background(), m); nerr == nil {
			c.notified = 0
		}
	}
	if !c.eject {
		return
	}
	// The unmount the eject makes stops this runner (its mount is gone):
	// the eject itself must not be cut short by that, only bounded.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ejectTimeout)
	defer cancel()
	res, eerr := eject.Eject(ectx, c.card.Mount.MountPoint)
	if eerr != nil {
		// A file manager holding the card, or polkit refusing power-off:
		// the data is durable, the card stays safe to remove.
		r.log.Warn("eject card", "card", c.label, "err", eerr)
		return
	}
	r.log.Info("card ejected", "card", c.label, "method", res.Method, "device", res.Device)
	if n := c.watch.notify; n != nil {
		_, _ = n.Notify(context.Background(), desktop.Ejected(c.label))
	}
}

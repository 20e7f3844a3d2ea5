package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/cards"
	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/mounts"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/targetfs"
)

func newCardsCmd(g *globalFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "cards",
		Short: "List every card romsyncd knows: profile, label, UUID, last seen, last in sync, free space, where it is mounted now",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(g, c.ErrOrStderr())
			if err != nil {
				return err
			}
			return listCards(cfg, asJSON, c.OutOrStdout())
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// cardRow is one card of `romsyncd cards`.
type cardRow struct {
	cards.Record
	// MountedNow is where the card is mounted now ("" when it is not):
	// its marker is read there, the registry's word is not taken for it.
	MountedNow string `json:"mounted_now"`
}

func listCards(cfg *config.Config, asJSON bool, w io.Writer) error {
	reg, err := cards.OpenRegistry(profiles.StateDir(cfg))
	if err != nil {
		return err
	}
	recs, err := reg.Cards()
	if err != nil {
		return err
	}
	rows := make([]cardRow, len(recs))
	for i, rec := range recs {
		rows[i] = cardRow{Record: rec, MountedNow: mountedNow(rec)}
		if rows[i].MountedNow != "" {
			if free, err := targetfs.Free(rec.Root); err == nil {
				rows[i].FreeBytes = free
			}
		}
	}
	if asJSON {
		data, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(w, "no cards known yet (registry %s); insert a card while `romsyncd run` runs, or adopt one with `romsyncd init --profile NAME --card MOUNTPOINT`\n", reg.Path())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tLABEL\tUUID\tLAST SEEN\tLAST IN SYNC\tFREE\tMOUNTED AT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Profile, dash(r.Label), dash(r.UUID),
			when(r.LastSeen), when(r.LastInSync), bytesize.Format(int64(r.FreeBytes)), dash(r.MountedNow))
	}
	return tw.Flush()
}

// mountedNow returns the mount point of the card when its marker is at the
// root the registry last saw it at; "" otherwise.
func mountedNow(rec cards.Record) string {
	if rec.Root == "" {
		return ""
	}
	mk, err := cards.ReadMarker(rec.Root)
	if err != nil || mk.ID != rec.ID {
		return ""
	}
	m, err := targetfs.MountOf(rec.Root)
	if err != nil || m.MountPoint == "/" {
		return ""
	}
	return m.MountPoint
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// cardTarget returns profile p with its target on the card mounted at dir:
// the layout's ROM folder there (`romsyncd init --card`). dir must be a
// mount point: an empty folder left where a card was is never a target.
func cardTarget(p *config.Profile, dir string) (*config.Profile, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	m, err := targetfs.MountOf(abs)
	if err != nil {
		return nil, &exitError{code: exitRefused, err: fmt.Errorf("--card %s: %w", dir, err)}
	}
	if m.MountPoint != abs || abs == "/" {
		return nil, &exitError{code: exitRefused, err: fmt.Errorf("--card %s is not a mount point (it lies on %s): insert the card and give the folder it is mounted at, e.g. /media/%s/LABEL", dir, m.MountPoint, userName())}
	}
	root, _ := cards.TargetOn(abs, p.Layout)
	pc := *p
	pc.Target = root
	return &pc, nil
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "USER"
}

// registerCard records in the registry the card init adopted at root.
func registerCard(cfg *config.Config, profile, root string) error {
	mk, err := cards.ReadMarker(root)
	if err != nil {
		return err
	}
	mi, err := targetfs.MountOf(root)
	if err != nil {
		return err
	}
	card := cards.Card{Profile: profile, ID: mk.ID, Created: mk.Created, Root: root, Mount: mounts.Mount{MountInfo: mi}}
	if all, err := mounts.List(); err == nil {
		for _, m := range all {
			if m.MountPoint == mi.MountPoint {
				card.Mount = m // the topmost, with its label and UUID
			}
		}
	}
	reg, err := cards.OpenRegistry(profiles.StateDir(cfg))
	if err != nil {
		return err
	}
	free, _ := targetfs.Free(root)
	return reg.Seen(card, free, time.Now())
}

// cardsText describes, for check-config, where a profile without a fixed
// target finds its cards.
func cardsText(p *config.Profile) string {
	var rules []string
	for _, r := range p.Cards.Adopt {
		rules = append(rules, r.String())
	}
	rel, _ := cards.ROMFolder(p.Layout)
	where := "the card's root"
	if rel != "" {
		where = rel + "/ on the card"
	}
	s := "any mounted card whose marker names " + p.Name + " (in " + where + ")"
	if len(rules) > 0 {
		s += "; adopts unmarked cards with " + strings.Join(rules, ", ")
	}
	if p.Eject {
		s += "; ejects a card once in sync"
	}
	return s
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/romsyncd/romsyncd/cards"
	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/mounts"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/saves"
	"github.com/romsyncd/romsyncd/status"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

type syncFlags struct {
	profiles []string
	dryRun   bool
	json     bool
	local    bool
}

func newSyncCmd(g *globalFlags) *cobra.Command {
	f := &syncFlags{}
	c := &cobra.Command{
		Use:   "sync",
		Short: "Run one verified pass per profile and exit (0 when every profile is in sync)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runSync(c.Context(), g, f, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringSliceVarP(&f.profiles, "profile", "p", nil, "profile to sync (repeatable; default: all)")
	c.Flags().BoolVarP(&f.dryRun, "dry-run", "n", false, "print the plan (copy/replace/delete/conflict per path) and change nothing; exit 1 when it is not empty")
	c.Flags().BoolVar(&f.json, "json", false, "print one JSON object per profile")
	c.Flags().BoolVar(&f.local, "no-daemon", false, "run the pass here even when a romsyncd daemon is running")
	_ = c.RegisterFlagCompletionFunc("profile", completeProfiles(g))
	return c
}

// selectProfiles returns the named profiles, or all of them.
func selectProfiles(cfg *config.Config, names []string) ([]*config.Profile, error) {
	if len(names) == 0 {
		out := make([]*config.Profile, len(cfg.Profiles))
		for i := range cfg.Profiles {
			out[i] = &cfg.Profiles[i]
		}
		return out, nil
	}
	var out []*config.Profile
	for _, n := range names {
		p, ok := cfg.Profile(n)
		if !ok {
			var all []string
			for _, q := range cfg.Profiles {
				all = append(all, q.Name)
			}
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("config %s: no profile %q (profiles: %v)", cfg.File, n, all)}
		}
		out = append(out, p)
	}
	return out, nil
}

func runSync(ctx context.Context, g *globalFlags, f *syncFlags, stdout, stderr io.Writer) error {
	// Logs go to stderr, the summary and the bar to stdout; on one
	// terminal, a log line never cuts into the bar.
	logs := &logWriter{w: stderr}
	cfg, log, err := loadWithLogger(g, stderr, logs, "warn")
	if err != nil {
		return err
	}
	sel, err := selectProfiles(cfg, f.profiles)
	if err != nil {
		return err
	}
	// A profile with cards: runs on each of its cards mounted now.
	sel, absent, cardsAsked := mountedCards(sel)
	// Every selected profile's settings are checked before any pass runs.
	opts := make([]romsync.Options, len(sel))
	for i, p := range sel {
		if opts[i], err = profiles.Options(cfg, p, log); err != nil {
			return profileError(cfg, p, err)
		}
		opts[i].DryRun = f.dryRun
	}
	// A running daemon owns the targets: ask it instead of racing it (its
	// cards' runners are per card: a card profile's pass runs here, under
	// the card's lock).
	if !f.dryRun && !f.local && !cardsAsked {
		if reps, ok, err := syncViaDaemon(ctx, cfg, sel, stderr); ok {
			if err != nil {
				return err
			}
			fmt.Fprintln(stderr, "romsyncd: the daemon ran the pass")
			return printReports(reps, f, stdout)
		}
	}
	tty := !f.json && isTerminal(stdout)
	worst := exitOK
	for _, p := range absent {
		err := fmt.Errorf("profile %s: %w: no card of this profile is mounted; insert one (or adopt a new one with `romsyncd init --profile %s --card MOUNTPOINT`)", p.Name, outcome.ErrTargetOffline, p.Name)
		if err := printReport(romsync.ErrorReport(p.Name, p.Source, "", err), f, stdout); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "romsyncd: %s: %s\n", p.Name, oneLine(err.Error()))
		worst = max(worst, exitCode(err))
	}
	for _, group := range cardGroups(sel) {
		if len(group) > 1 {
			// Several cards of one profile: synced at once, each library
			// file read from the disk once (romsync.Share).
			share := romsync.NewShare()
			results := make([]cardResult, len(group))
			var wg sync.WaitGroup
			for j, i := range group {
				opts[i].Share = share
				wg.Go(func() {
					results[j].rep, results[j].perr = syncProfile(ctx, opts[i])
					if ctx.Err() == nil {
						results[j].srep, results[j].serr = backupAfterPass(ctx, sel[i], results[j].rep, f.dryRun, log)
					}
				})
			}
			wg.Wait()
			if err := ctx.Err(); err != nil {
				return err
			}
			for j, i := range group {
				r := results[j]
				code, err := finishProfile(sel[i], r, f, stdout, stderr)
				if err != nil {
					return err
				}
				worst = max(worst, code)
			}
			continue
		}
		i, p := group[0], sel[group[0]]
		var bar *progressBar
		if tty {
			bar = newProgressBar(stdout, p.Name)
			opts[i].Progress = bar
			logs.setBar(bar)
		}
		var r cardResult
		r.rep, r.perr = syncProfile(ctx, opts[i])
		if bar != nil {
			logs.setBar(nil)
			bar.clear()
		}
		if errors.Is(r.perr, context.Canceled) {
			return r.perr
		}
		if err := ctx.Err(); err != nil {
			// Interrupted: whatever the report says, the pass may not
			// have done its work (the engine can return no error).
			return err
		}
		// Saves come home after the pass (profiles with saves:).
		r.srep, r.serr = backupAfterPass(ctx, p, r.rep, f.dryRun, log)
		code, err := finishProfile(p, r, f, stdout, stderr)
		if err != nil {
			return err
		}
		worst = max(worst, code)
	}
	if worst != exitOK {
		return &exitError{code: worst}
	}
	return nil
}

// cardResult is what one profile's (or card's) pass and saves backup gave.
type cardResult struct {
	rep  *romsync.Report
	perr error
	srep *saves.Report
	serr error
}

// finishProfile prints a pass's report and problems and returns its exit
// code.
func finishProfile(p *config.Profile, r cardResult, f *syncFlags, stdout, stderr io.Writer) (int, error) {
	if err := printReportSaves(r.rep, r.srep, r.serr, p, f, stdout); err != nil {
		return 0, err
	}
	code := reportExit(r.rep)
	if r.perr != nil {
		fmt.Fprintf(stderr, "romsyncd: %s: %s\n", p.Name, oneLine(r.perr.Error()))
	}
	if r.serr != nil {
		fmt.Fprintf(stderr, "romsyncd: %s: saves: %s\n", p.Name, oneLine(r.serr.Error()))
		code = max(code, savesExit(r.serr))
	}
	return code, nil
}

// cardGroups groups the indexes of sel: the cards of one cards profile
// (consecutive, as mountedCards lists them) together, every other profile
// alone.
func cardGroups(sel []*config.Profile) [][]int {
	var out [][]int
	for i, p := range sel {
		if n := len(out); n > 0 && p.Cards != nil && sel[out[n-1][0]].Cards != nil && sel[out[n-1][0]].Name == p.Name {
			out[n-1] = append(out[n-1], i)
			continue
		}
		out = append(out, []int{i})
	}
	return out
}

// syncProfile runs one full pass of a profile.
func syncProfile(ctx context.Context, opts romsync.Options) (*romsync.Report, error) {
	s, err := romsync.Open(ctx, opts)
	if err != nil {
		rep := romsync.ErrorReport(opts.Profile, opts.Source, opts.Target, err)
		rep.DryRun = opts.DryRun
		return rep, err
	}
	defer s.Close()
	return s.Pass(ctx, romsync.Scope{All: true})
}

// syncViaDaemon hands the pass to a running daemon, which owns its targets,
// when that daemon runs this same configuration file and every profile
// asked for. Otherwise ok is false and the caller runs the pass itself (the
// target's lock keeps it from racing a daemon); a daemon that is there but
// not usable (another configuration, a profile it lacks, a socket nobody
// answers on or that this user may not open) is reported on one line. A
// socket that does not exist is no news: most one-shot runs have no daemon.
func syncViaDaemon(ctx context.Context, cfg *config.Config, sel []*config.Profile, stderr io.Writer) ([]*romsync.Report, bool, error) {
	sockets := status.ClientSockets()
	if cfg.Socket != "" {
		sockets = []string{cfg.Socket}
	}
	mine := status.ConfigFileOf(cfg.File)
	var names []string
	for _, p := range sel {
		names = append(names, p.Name)
	}
	var notes []string
	for _, sock := range sockets {
		d, err := status.GetDaemon(ctx, sock)
		if errors.Is(err, syscall.ENOENT) {
			continue
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("cannot use the daemon at %s (%s)", sock, daemonErrReason(err)))
			continue
		}
		if !d.Config.Same(mine) {
			runs := d.Config.Path
			if runs == "" {
				runs = "a configuration it does not name"
			}
			notes = append(notes, fmt.Sprintf("the daemon at %s runs %s, not %s", sock, runs, mine.Path))
			continue
		}
		if missing := notRun(d, names); len(missing) > 0 {
			notes = append(notes, fmt.Sprintf("the daemon at %s does not run profile %s (reload it: systemctl reload romsyncd, or SIGHUP)", sock, strings.Join(missing, ", ")))
			continue
		}
		raw, err := status.RequestReconcile(ctx, sock, names)
		if err != nil {
			return nil, true, fmt.Errorf("daemon at %s: %w", sock, err)
		}
		var reps []*romsync.Report
		for _, r := range raw {
			var rep romsync.Report
			if err := json.Unmarshal(r, &rep); err != nil {
				return nil, true, fmt.Errorf("daemon at %s: bad report: %w", sock, err)
			}
			reps = append(reps, &rep)
		}
		return reps, true, nil
	}
	if len(notes) > 0 {
		fmt.Fprintf(stderr, "romsyncd: %s; running the pass here\n", strings.Join(notes, "; "))
	}
	return nil, false, nil
}

// daemonErrReason says in a few words why a daemon's socket could not be used.
func daemonErrReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing answers on it"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied: it is another user's daemon"
	}
	return oneLine(err.Error())
}

// notRun returns the names that daemon d does not run.
func notRun(d status.Daemon, names []string) []string {
	var out []string
	for _, n := range names {
		if !d.Runs(n) {
			out = append(out, n)
		}
	}
	return out
}

func printReports(reps []*romsync.Report, f *syncFlags, w io.Writer) error {
	worst := exitOK
	for _, r := range reps {
		if err := printReport(r, f, w); err != nil {
			return err
		}
		worst = max(worst, reportExit(r))
	}
	if worst != exitOK {
		return &exitError{code: worst}
	}
	return nil
}

func printReport(r *romsync.Report, f *syncFlags, w io.Writer) error {
	if f.json {
		data, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	return writeSummary(w, r)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// mountedCards replaces each profile with cards: (and no fixed target) by
// one copy per card of it mounted now, whose target is that card's; absent
// lists those with none mounted; anyCards says whether any was asked for.
func mountedCards(sel []*config.Profile) (out, absent []*config.Profile, anyCards bool) {
	var found map[string][]cards.Card
	for _, p := range sel {
		if p.Cards == nil || p.Target != "" {
			out = append(out, p)
			continue
		}
		anyCards = true
		if found == nil {
			found = mountedCardsByProfile()
		}
		if len(found[p.Name]) == 0 {
			absent = append(absent, p)
		}
		for _, c := range found[p.Name] {
			pc := *p
			pc.Target = c.Root
			out = append(out, &pc)
		}
	}
	return out, absent, anyCards
}

// mountedCardsByProfile finds the romsyncd cards mounted now, by profile.
func mountedCardsByProfile() map[string][]cards.Card {
	out := map[string][]cards.Card{}
	ms, err := mounts.List()
	if err != nil {
		return out
	}
	for _, m := range ms {
		if !cards.MayBeCard(m) {
			continue
		}
		found, _ := cards.Identify(m)
		for _, c := range found {
			out[c.Profile] = append(out[c.Profile], c)
		}
	}
	return out
}

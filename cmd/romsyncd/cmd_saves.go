package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/saves"
	romsync "github.com/romsyncd/romsyncd/sync"
)

type savesFlags struct {
	profiles []string
	game     string
	card     string
	version  string
	json     bool
}

func newSavesCmd(g *globalFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "saves",
		Short: "Back up, list and restore the saves and save states on a card (profiles with saves:)",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newSavesBackupCmd(g), newSavesListCmd(g), newSavesRestoreCmd(g))
	return c
}

func newSavesBackupCmd(g *globalFlags) *cobra.Command {
	f := &savesFlags{}
	c := &cobra.Command{
		Use:   "backup",
		Short: "Copy every new or changed save off the card now (read-only on the card)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runSavesBackup(c.Context(), g, f, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringSliceVarP(&f.profiles, "profile", "p", nil, "profile whose card to back up (repeatable; default: every profile with saves:)")
	c.Flags().BoolVar(&f.json, "json", false, "print one JSON object per profile")
	_ = c.RegisterFlagCompletionFunc("profile", completeProfiles(g))
	return c
}

func newSavesListCmd(g *globalFlags) *cobra.Command {
	f := &savesFlags{}
	c := &cobra.Command{
		Use:   "list",
		Short: "List the backed-up versions of saves, with their dates",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runSavesList(g, f, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringSliceVarP(&f.profiles, "profile", "p", nil, "profile whose backup to list (default: every profile with saves:)")
	c.Flags().StringVar(&f.game, "game", "", "only games whose name contains this (ignoring case)")
	c.Flags().StringVar(&f.card, "card", "", "only this card id")
	c.Flags().BoolVar(&f.json, "json", false, "print one JSON object per version")
	_ = c.RegisterFlagCompletionFunc("profile", completeProfiles(g))
	return c
}

func newSavesRestoreCmd(g *globalFlags) *cobra.Command {
	f := &savesFlags{}
	c := &cobra.Command{
		Use:   "restore --profile P [--card C] GAME",
		Short: "Write a backed-up save back onto the card (the card's current file is backed up first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f.game = args[0]
			return runSavesRestore(c.Context(), g, f, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringSliceVarP(&f.profiles, "profile", "p", nil, "profile whose card to restore onto (required)")
	c.Flags().StringVar(&f.card, "card", "", "card id whose backup to restore from (default: the inserted card's own)")
	c.Flags().StringVar(&f.version, "version", "", "version to restore: its file name or part of it (a date 20261129T0410, a short hash); default: the newest")
	c.Flags().BoolVar(&f.json, "json", false, "print what was restored as JSON")
	_ = c.RegisterFlagCompletionFunc("profile", completeProfiles(g))
	return c
}

// savesOptions is a profile's save backup, or an error when it has none.
func savesOptions(p *config.Profile, log *slog.Logger) (saves.Options, error) {
	o, ok := profiles.SavesOptions(p, log)
	if !ok {
		return saves.Options{}, fmt.Errorf("profile %s backs up no saves: add saves: {backup: PATH} to it", p.Name)
	}
	return o, nil
}

// savesProfiles returns the named profiles, or every profile with saves:.
func savesProfiles(cfg *config.Config, names []string) ([]*config.Profile, error) {
	sel, err := selectProfiles(cfg, names)
	if err != nil {
		return nil, err
	}
	var out []*config.Profile
	for _, p := range sel {
		if p.Saves != nil {
			out = append(out, p)
		} else if len(names) > 0 {
			return nil, profileError(cfg, p, fmt.Errorf("saves: not set: add saves: {backup: PATH} to back up its card's saves"))
		}
	}
	if len(out) == 0 {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("config %s: no profile has saves: {backup: PATH}", cfg.File)}
	}
	return out, nil
}

// savesExit maps a save backup's error to the exit code.
func savesExit(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, saves.ErrChanging), errors.Is(err, saves.ErrNotFound):
		return exitNotInSync
	}
	return exitRefused
}

func runSavesBackup(ctx context.Context, g *globalFlags, f *savesFlags, stdout, stderr io.Writer) error {
	cfg, log, err := loadWithLogger(g, stderr, stderr, "warn")
	if err != nil {
		return err
	}
	sel, err := savesProfiles(cfg, f.profiles)
	if err != nil {
		return err
	}
	worst := exitOK
	for _, p := range sel {
		o, _ := savesOptions(p, log)
		rep, err := saves.Backup(ctx, o)
		if errors.Is(err, context.Canceled) {
			return err
		}
		if f.json {
			out := struct {
				Profile string `json:"profile"`
				saves.Report
				Error string `json:"error,omitempty"`
			}{Profile: p.Name, Report: rep}
			if err != nil {
				out.Error = err.Error()
			}
			data, _ := json.Marshal(out)
			fmt.Fprintf(stdout, "%s\n", data)
		} else if err == nil {
			fmt.Fprintf(stdout, "%s: %s\n", p.Name, savesLine(rep, o.Backup))
		}
		code := exitOK
		if len(rep.Changing) > 0 {
			code = exitNotInSync
		}
		if err != nil {
			fmt.Fprintf(stderr, "romsyncd: %s: saves: %s\n", p.Name, oneLine(err.Error()))
			code = savesExit(err)
		}
		worst = max(worst, code)
	}
	if worst != exitOK {
		return &exitError{code: worst}
	}
	return nil
}

// savesLine is the one-line summary of a save backup.
func savesLine(r saves.Report, backup string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "saves: %d backed up (%s)", r.BackedUp, bytesize.Format(r.Bytes))
	fmt.Fprintf(&b, ", %d unchanged of %d on card %s", r.Unchanged+r.Same, r.Seen, r.Card)
	if r.Pruned > 0 {
		fmt.Fprintf(&b, ", %d old versions pruned", r.Pruned)
	}
	if len(r.Changing) > 0 {
		fmt.Fprintf(&b, ", %d still changing (backed up next time: %s)", len(r.Changing), strings.Join(r.Changing, ", "))
	}
	fmt.Fprintf(&b, " -> %s", filepath.Join(backup, r.Card))
	return b.String()
}

func runSavesList(g *globalFlags, f *savesFlags, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(g, stderr)
	if err != nil {
		return err
	}
	sel, err := savesProfiles(cfg, f.profiles)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var all []saves.Listed
	for _, p := range sel {
		if seen[p.Saves.Backup] {
			continue
		}
		seen[p.Saves.Backup] = true
		vs, err := saves.List(p.Saves.Backup, f.card, f.game)
		if err != nil {
			return &exitError{code: exitRefused, err: fmt.Errorf("%s: %w", p.Name, err)}
		}
		all = append(all, vs...)
	}
	if f.json {
		for _, v := range all {
			data, _ := json.Marshal(v)
			fmt.Fprintf(stdout, "%s\n", data)
		}
		return nil
	}
	if len(all) == 0 {
		fmt.Fprintln(stdout, "no backed-up saves")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CARD\tPLATFORM\tGAME\tKIND\tSAVED (UTC)\tSIZE\tVERSION")
	for _, v := range all {
		mark := ""
		if v.Newest {
			mark = " (newest)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", v.Card, v.Platform, v.Game, v.Kind, v.Mtime.Format("2006-01-02 15:04:05"),
			bytesize.Format(v.Size), filepath.Base(v.File), mark)
	}
	return tw.Flush()
}

func runSavesRestore(ctx context.Context, g *globalFlags, f *savesFlags, stdout, stderr io.Writer) error {
	if len(f.profiles) != 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("saves restore: name the card's profile with --profile P")}
	}
	cfg, log, err := loadWithLogger(g, stderr, stderr, "warn")
	if err != nil {
		return err
	}
	sel, err := savesProfiles(cfg, f.profiles)
	if err != nil {
		return err
	}
	o, _ := savesOptions(sel[0], log)
	done, err := saves.Restore(ctx, saves.RestoreOptions{Options: o, Card: f.card, Game: f.game, Version: f.version})
	for _, r := range done {
		if f.json {
			data, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", data)
			continue
		}
		fmt.Fprintf(stdout, "restored %s from %s", r.Save, r.Version)
		if r.Backup != "" {
			fmt.Fprintf(stdout, " (the card's previous file is kept as %s)", r.Backup)
		}
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return &exitError{code: savesExit(err), err: fmt.Errorf("saves restore: %s: %w", sel[0].Name, err)}
	}
	return nil
}

// backupAfterPass runs a profile's save backup after its pass (`sync`);
// nil report when the profile has none or the pass was a dry run.
// A card the pass already found absent is not reported twice.
func backupAfterPass(ctx context.Context, p *config.Profile, pass *romsync.Report, dryRun bool, log *slog.Logger) (*saves.Report, error) {
	o, ok := profiles.SavesOptions(p, log)
	if !ok || dryRun {
		return nil, nil
	}
	rep, err := saves.Backup(ctx, o)
	if errors.Is(err, saves.ErrNoCard) && pass != nil && pass.Error != "" {
		return nil, nil
	}
	return &rep, err
}

// printReportSaves is printReport with the save backup that followed the
// pass: JSON field saves_backed_up, and a summary line.
func printReportSaves(r *romsync.Report, sr *saves.Report, serr error, p *config.Profile, f *syncFlags, w io.Writer) error {
	if sr == nil && serr == nil {
		return printReport(r, f, w)
	}
	if f.json {
		out := struct {
			*romsync.Report
			SavesBackedUp int    `json:"saves_backed_up"`
			SavesError    string `json:"saves_error,omitempty"`
		}{Report: r}
		if sr != nil {
			out.SavesBackedUp = sr.BackedUp
		}
		if serr != nil {
			out.SavesError = serr.Error()
		}
		data, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	if err := writeSummary(w, r); err != nil {
		return err
	}
	if serr == nil {
		_, err := fmt.Fprintf(w, "  %s\n", savesLine(*sr, p.Saves.Backup))
		return err
	}
	return nil
}

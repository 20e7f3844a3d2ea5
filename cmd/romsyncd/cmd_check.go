package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/profiles"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
)

func newCheckConfigCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config",
		Short: "Validate the configuration and print the resolved profiles and what their targets are",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCheckConfig(c.Context(), g, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
}

func runCheckConfig(ctx context.Context, g *globalFlags, w, stderr io.Writer) error {
	cfg, err := loadConfig(g, stderr)
	if err != nil {
		return err
	}
	for i := range cfg.Profiles {
		if _, err := profiles.Layout(&cfg.Profiles[i]); err != nil {
			return profileError(cfg, &cfg.Profiles[i], err)
		}
	}
	stateDir := profiles.StateDir(cfg)
	fmt.Fprintf(w, "config %s: %d profile(s), state in %s\n", cfg.File, len(cfg.Profiles), stateDir)
	var noLibrary []string
	for i := range cfg.Profiles {
		p := &cfg.Profiles[i]
		adopted := romsync.Adopted(stateDir, p.Name)
		fmt.Fprintf(w, "\nprofile %s\n", p.Name)
		src := pathState(p.Source, false, false)
		if src != "" {
			noLibrary = append(noLibrary, fmt.Sprintf("%s: library %s%s", p.Name, p.Source, src))
		}
		fmt.Fprintf(w, "  source:     %s%s\n", p.Source, src)
		if p.Target == "" { // cards: found by marker (docs/CARDS.md)
			fmt.Fprintf(w, "  target:     %s\n", cardsText(p))
		} else {
			fmt.Fprintf(w, "  target:     %s%s\n", p.Target, pathState(p.Target, true, adopted))
			fmt.Fprintf(w, "  target fs:  %s\n", describeTarget(ctx, p, adopted))
		}
		fmt.Fprintf(w, "  mode:       %s (max_delete %s)\n", p.Mode, p.MaxDelete)
		layout := p.Layout
		if layout == "" {
			layout = "none (library folder names kept)"
		}
		fmt.Fprintf(w, "  layout:     %s, unknown folders: %s\n", layout, p.Unknown)
		if len(p.Only) > 0 {
			fmt.Fprintf(w, "  only:       %s\n", strings.Join(p.Only, ", "))
		}
		if len(p.Platforms) > 0 {
			keys := make([]string, 0, len(p.Platforms))
			for k := range p.Platforms {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  platform:   %s -> %s\n", k, p.Platforms[k])
			}
		}
		if len(p.Include) > 0 {
			fmt.Fprintf(w, "  include:    %s\n", strings.Join(p.Include, " "))
		}
		if len(p.Exclude) > 0 {
			fmt.Fprintf(w, "  exclude:    %s\n", strings.Join(p.Exclude, " "))
		}
		fmt.Fprintf(w, "  workers:    %d, verify: %t\n", p.Workers, p.Verify)
		fmt.Fprintf(w, "  daemon:     watch %s, debounce %s, max_delay %s, poll_interval %s, rescan %s\n",
			p.Watch, p.Debounce, p.MaxDelay, p.PollInterval, p.Rescan)
	}
	// A missing library is a profile that cannot run: say so in the exit
	// code too (an absent card is not: cards come and go).
	if len(noLibrary) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(noLibrary, "; "), outcome.ErrSourceOffline)
	}
	return nil
}

// profileError is a usage error for a profile's settings that only the
// profiles package checks (its layout), naming the file and the profile
// the way config errors do.
func profileError(cfg *config.Config, p *config.Profile, err error) error {
	key := p.Name
	for i := range cfg.Profiles {
		if &cfg.Profiles[i] == p {
			key = fmt.Sprintf("profiles[%d] (%s)", i, p.Name)
		}
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("config %s: %s: %w", cfg.File, key, err)}
}

// pathState says what is wrong with a profile's source or target folder
// ("" when nothing is). adopted: the target had its first pass, so a
// missing one is a card not inserted.
func pathState(p string, target, adopted bool) string {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if mp, down, _ := targetfs.UnmountedFstabMount(p); down {
			return fmt.Sprintf(" (missing: %s is not mounted)", mp)
		}
		if target && adopted {
			return " (missing: card not inserted)"
		}
		return " (missing)"
	case err != nil:
		return " (" + err.Error() + ")"
	case !st.IsDir():
		return " (not a folder)"
	}
	if target {
		if _, err := os.Stat(filepath.Join(p, ".romsyncd", "marker")); err != nil {
			if adopted {
				return " (no .romsyncd marker: card not inserted, or another card)"
			}
			return " (no .romsyncd marker: run `romsyncd init`)"
		}
	}
	return ""
}

// describeTarget probes the target filesystem when the target is adopted
// (probe files go under its .romsyncd folder); otherwise it names the
// filesystem the target would land on.
//
// An adopted target that is missing or has no marker is a card not
// inserted. (Nothing records when it was last seen, so that is not said.)
func describeTarget(ctx context.Context, p *config.Profile, adopted bool) string {
	meta := filepath.Join(p.Target, ".romsyncd")
	if st, err := os.Stat(meta); err == nil && st.IsDir() {
		info, err := targetfs.Probe(ctx, p.Target, meta)
		if err != nil {
			return "probe failed: " + err.Error()
		}
		return info.String()
	}
	if adopted {
		return "card not inserted (the profile's target was adopted; insert the card to probe it)"
	}
	m, err := targetfs.MountOf(p.Target)
	if err != nil {
		return "unknown: " + err.Error()
	}
	return fmt.Sprintf("not probed yet (target not adopted); it lies on %s mounted at %s", m.FSType, m.MountPoint)
}

// Package profiles turns a configured profile into the sync engine's
// options: the device layout, the probed target filesystem and the name
// rules it needs, the deletion guard and the first-pass state.
package profiles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/platform"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/targetfs"
)

// Layout compiles the profile's device layout (nil when it has none and
// selects nothing).
func Layout(p *config.Profile) (*platform.Layout, error) {
	if p.Layout == "" && len(p.Platforms) == 0 && len(p.Only) == 0 && p.Unknown != "skip" {
		return nil, nil
	}
	unknown := platform.UnknownKeep
	if p.Unknown == "skip" {
		unknown = platform.UnknownSkip
	}
	return platform.NewLayout(platform.Options{Layout: p.Layout, Overrides: p.Platforms, Only: p.Only, Unknown: unknown})
}

// Check validates what the config package cannot: each profile's layout,
// platforms and only keys against the platform catalog.
func Check(cfg *config.Config) error {
	for i := range cfg.Profiles {
		p := &cfg.Profiles[i]
		if _, err := Layout(p); err != nil {
			return &config.Error{File: cfg.File, Key: fmt.Sprintf("profiles[%d] (%s)", i, p.Name), Msg: err.Error()}
		}
		if err := checkSaves(p); err != nil {
			return &config.Error{File: cfg.File, Key: fmt.Sprintf("profiles[%d] (%s).saves", i, p.Name), Msg: err.Error()}
		}
	}
	return nil
}

// ErrNoFixedTarget: the profile finds its cards by marker (cards:) and the
// caller gave no card; set the profile's Target to the card's root.
var ErrNoFixedTarget = errors.New("no fixed target: its cards are found by marker while `romsyncd run` watches the mounts; adopt a new card with `romsyncd init --card MOUNTPOINT`")

// StateDir is where per-profile state lives: the config's state_dir, else
// $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/romsyncd, else
// ~/.local/state/romsyncd (root without a home: /var/lib/romsyncd).
func StateDir(cfg *config.Config) string {
	if cfg.StateDir != "" {
		return cfg.StateDir
	}
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return strings.Split(d, ":")[0]
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "romsyncd")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "/" {
		return filepath.Join(home, ".local", "state", "romsyncd")
	}
	return "/var/lib/romsyncd"
}

// Options builds the engine's options for profile p.
func Options(cfg *config.Config, p *config.Profile, log *slog.Logger) (romsync.Options, error) {
	if p.Target == "" {
		// cards: the target is a card's root, found by marker (docs/CARDS.md).
		return romsync.Options{}, fmt.Errorf("profile %s: %w", p.Name, ErrNoFixedTarget)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := Layout(p)
	if err != nil {
		return romsync.Options{}, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	o := romsync.Options{
		Profile: p.Name, Source: p.Source, Target: p.Target,
		Delete: p.Mode == config.ModeMirror, Include: p.Include, Exclude: p.Exclude,
		Workers: p.Workers, Verify: p.Verify, MaxDelete: p.MaxDelete,
		DSTTolerance: p.DSTTolerance,
		StateDir:     StateDir(cfg),
		Unmounted:    targetfs.UnmountedFstabMount,
		Logger:       log,
	}
	if l != nil {
		o.MapPlatform = func(name string) (string, bool, string) {
			folder, _, ok, reason := l.Map(name)
			return folder, ok, reason
		}
		o.Unzip = l.Unzip
		style, _ := l.DiscStyle()
		o.DiscStyle = romsync.DiscStyle(style)
	}
	o.GameFolders = platform.GameFolders
	window := p.ModifyWindow
	probes := filepath.Join(o.StateDir, "probes.json")
	o.Probe = func(ctx context.Context, root, scratch string, o *romsync.Options) error {
		// The card's marker id (in scratch) lets a later run recall what
		// this one probes: a no-op pass writes nothing on the card.
		var id string
		if m, err := cardstate.ReadMarker(scratch); err == nil {
			id = m.ID
		}
		info, err := targetfs.ProbeRemembering(ctx, root, scratch, targetfs.Remember{File: probes, ID: id})
		if err != nil {
			return fmt.Errorf("probe target %s: %w", root, err)
		}
		o.Adapt(info, window)
		log.Debug("target probed", "profile", p.Name, "target", root, "fs", info.String())
		return nil
	}
	return o, nil
}

package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/daemon"
	"github.com/romsyncd/romsyncd/profiles"
)

func newRunCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run as a daemon: watch every profile's library and keep its target mirrored (SIGHUP reloads, SIGTERM stops)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runDaemon(c.Context(), g, c.ErrOrStderr())
		},
	}
}

func runDaemon(ctx context.Context, g *globalFlags, stderr io.Writer) error {
	cfg, log, err := loadWithLogger(g, stderr, stderr, "info")
	if err != nil {
		return err
	}
	if err := profiles.Check(cfg); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// A stop signal ends the daemon cleanly: exit 0.
	err = daemon.Run(ctx, cfg, daemon.Options{Logger: log, Reload: hup})
	if err != nil {
		return &exitError{code: exitRefused, err: err}
	}
	return nil
}

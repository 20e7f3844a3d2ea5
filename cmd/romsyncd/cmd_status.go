package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/status"
)

func newStatusCmd(g *globalFlags) *cobra.Command {
	var asJSON, verbose bool
	var socket string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show what the running daemon is doing, per profile",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sockets := status.ClientSockets()
			if socket != "" {
				sockets = []string{socket}
			} else if g.config != "" {
				if cfg, err := config.Load(g.config); err == nil && cfg.Socket != "" {
					sockets = []string{cfg.Socket}
				}
			}
			for _, sock := range sockets {
				st, err := status.GetStatus(c.Context(), sock)
				if errors.Is(err, status.ErrNoDaemon) {
					continue
				}
				if err != nil {
					return err
				}
				if asJSON {
					data, err := json.MarshalIndent(st, "", "  ")
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(c.OutOrStdout(), "%s\n", data)
					return err
				}
				if err := status.FormatStatus(c.OutOrStdout(), st, time.Now()); err != nil || !verbose {
					return err
				}
				return status.FormatProblems(c.OutOrStdout(), st)
			}
			return &exitError{code: exitRefused, err: fmt.Errorf("%w (looked at %v); start it with `romsyncd run` or `systemctl start romsyncd`", status.ErrNoDaemon, sockets)}
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "list each conflict and skipped file with its reason")
	c.Flags().StringVar(&socket, "socket", "", "the daemon's control socket (default: the config's socket, else the runtime directory)")
	return c
}

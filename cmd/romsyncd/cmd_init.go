package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/profiles"
	romsync "github.com/romsyncd/romsyncd/sync"
)

func newInitCmd(g *globalFlags) *cobra.Command {
	var name string
	var asJSON, dry bool
	c := &cobra.Command{
		Use:   "init --profile NAME",
		Short: "Adopt a target folder: write its .romsyncd marker and record files already there that match the library",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runInit(c.Context(), g, name, asJSON, dry, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringVarP(&name, "profile", "p", "", "profile whose target to adopt (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().BoolVarP(&dry, "dry-run", "n", false, "say what would be adopted and write nothing")
	_ = c.MarkFlagRequired("profile")
	_ = c.RegisterFlagCompletionFunc("profile", completeProfiles(g))
	return c
}

func runInit(ctx context.Context, g *globalFlags, name string, asJSON, dry bool, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(g, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, g.logLevel, cfg.LogLevel, "warn")
	if err != nil {
		return err
	}
	sel, err := selectProfiles(cfg, []string{name})
	if err != nil {
		return err
	}
	opts, err := profiles.Options(cfg, sel[0], log)
	if err != nil {
		return profileError(cfg, sel[0], err)
	}
	opts.DryRun = dry
	rep, err := romsync.Init(ctx, opts)
	if perr := printReport(rep, &syncFlags{json: asJSON}, stdout); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(stdout, "%s: target %s is adopted; run `romsyncd sync --profile %s`\n", name, opts.Target, name)
	}
	if len(rep.Errors) > 0 {
		return &exitError{code: exitNotInSync}
	}
	return nil
}

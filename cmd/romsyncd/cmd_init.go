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
	var name, card string
	var asJSON, dry bool
	c := &cobra.Command{
		Use:   "init --profile NAME [--card MOUNTPOINT]",
		Short: "Adopt a target folder: write its .romsyncd marker and record files already there that match the library",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runInit(c.Context(), g, name, card, asJSON, dry, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringVarP(&name, "profile", "p", "", "profile whose target to adopt (required)")
	c.Flags().StringVar(&card, "card", "", "adopt the card mounted at this folder: the target is the layout's ROM folder on it")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().BoolVarP(&dry, "dry-run", "n", false, "say what would be adopted and write nothing")
	_ = c.MarkFlagRequired("profile")
	_ = c.RegisterFlagCompletionFunc("profile", completeProfiles(g))
	return c
}

func runInit(ctx context.Context, g *globalFlags, name, card string, asJSON, dry bool, stdout, stderr io.Writer) error {
	cfg, log, err := loadWithLogger(g, stderr, stderr, "warn")
	if err != nil {
		return err
	}
	sel, err := selectProfiles(cfg, []string{name})
	if err != nil {
		return err
	}
	if card != "" {
		if sel[0], err = cardTarget(sel[0], card); err != nil {
			return err
		}
	} else if sel[0].Target == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("profile %s finds its cards by marker and has no fixed target: give the card, `romsyncd init --profile %s --card /media/%s/LABEL`", name, name, userName())}
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
	if card != "" && !dry {
		if err := registerCard(cfg, name, opts.Target); err != nil {
			fmt.Fprintf(stderr, "romsyncd: %s: card adopted, but not recorded in the card registry: %v\n", name, err)
		}
	}
	if !asJSON {
		fmt.Fprintf(stdout, "%s: target %s is adopted; run `romsyncd sync --profile %s`\n", name, opts.Target, name)
	}
	if len(rep.Errors) > 0 {
		return &exitError{code: exitNotInSync}
	}
	return nil
}

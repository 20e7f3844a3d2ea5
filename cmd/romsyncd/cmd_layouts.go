package main

import (
	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/platform"
)

func newLayoutsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "layouts [LAYOUT]",
		Short: "List device layouts, or print one layout's platform → folder table",
		Args:  cobra.MaximumNArgs(1),
		// Shell completion offers the layout names.
		ValidArgsFunction: completeLayout,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return platform.FormatLayouts(c.OutOrStdout())
			}
			l, err := platform.NewLayout(platform.Options{Layout: args[0]})
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if err := platform.FormatTable(c.OutOrStdout(), l); err != nil {
				return err
			}
			return platform.FormatDiscStyle(c.OutOrStdout(), l)
		},
	}
}

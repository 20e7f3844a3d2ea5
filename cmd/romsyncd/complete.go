package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/platform"
)

// completeProfiles suggests, for --profile, the profile names of the
// configuration (--config, else the default one); none when it cannot be
// loaded. Shell completion never prints errors.
func completeProfiles(g *globalFlags) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		path := g.config
		if path == "" {
			p, _, err := config.DefaultPath()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			path = p
		}
		cfg, err := config.Load(path)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, p := range cfg.Profiles {
			if strings.HasPrefix(p.Name, prefix) {
				out = append(out, p.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeLayout suggests layout names for the one LAYOUT argument.
func completeLayout(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, l := range platform.Layouts() {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

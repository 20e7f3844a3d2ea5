package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version overrides the module version read from the build info. Only a
// packaging build sets it (-ldflags "-X main.version=1.2.3"): a binary built
// from a checkout has no module version of its own ("(devel)"), while
// `go install ...@v1.2.3` records the tag by itself. Everything else —
// commit, date, Go version — always comes from the build info.
var version string

// buildVersion is what `romsyncd version` reports.
type buildVersion struct {
	Version  string // v1.2.3, a pseudo-version, or devel
	Commit   string // short VCS revision, "+dirty" when the tree had changes; "unknown" without VCS info
	Date     string // the commit's time (RFC 3339); "unknown" without VCS info
	Go       string // the toolchain that built the binary
	Platform string // GOOS/GOARCH
}

// readBuildVersion reads the version of the running binary.
func readBuildVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return versionFrom(info, version)
}

// versionFrom turns build info (nil when the binary has none) and a
// link-time override into a buildVersion.
func versionFrom(info *debug.BuildInfo, override string) buildVersion {
	v := buildVersion{Version: "devel", Commit: "unknown", Date: "unknown",
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info != nil {
		if mv := info.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
		if info.GoVersion != "" {
			v.Go = info.GoVersion
		}
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				v.Date = s.Value
			}
		}
		if rev != "" {
			v.Commit = rev[:min(len(rev), 12)]
			if modified == "true" {
				v.Commit += "+dirty"
			}
		}
	}
	if override != "" {
		v.Version = override
	}
	return v
}

func (v buildVersion) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "romsyncd version %s\n", v.Version)
	fmt.Fprintf(&b, "commit:   %s\n", v.Commit)
	fmt.Fprintf(&b, "date:     %s\n", v.Date)
	fmt.Fprintf(&b, "go:       %s %s\n", v.Go, v.Platform)
	return b.String()
}

// newVersionCmd returns the version command and gives root the same text
// behind --version (cobra's flag, there only when root.Version is set).
// Cobra prints "romsyncd version " + root.Version, so root.Version holds the
// lines after the version too. Not SetVersionTemplate: executing a template
// keeps the linker from dropping unused methods (+3.7 MB of binary).
func newVersionCmd(root *cobra.Command) *cobra.Command {
	v := readBuildVersion()
	root.Version = strings.TrimSuffix(strings.TrimPrefix(v.String(), "romsyncd version "), "\n")
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, commit date and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(c.OutOrStdout(), v)
			return err
		},
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGendocsCmd returns the hidden command the package build runs to write
// the man pages and shell completions from the command tree itself, so they
// never drift from the flags. It is a subcommand, not a program of its own,
// because the tree is built in package main and cannot be imported.
func newGendocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gendocs DIR",
		Short:  "Write man pages (DIR/man1) and bash, zsh and fish completions (DIR/completions) for packaging",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return genDocs(c.Root(), args[0])
		},
	}
}

// genDocs writes romsyncd.1 and one page per subcommand into dir/man1, and
// dir/completions/{romsyncd.bash,_romsyncd,romsyncd.fish}. The pages' date
// is $SOURCE_DATE_EPOCH when set, else the commit's, so that two builds of
// one commit give the same files.
func genDocs(root *cobra.Command, dir string) error {
	man := filepath.Join(dir, "man1")
	comp := filepath.Join(dir, "completions")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("gendocs: %w", err)
		}
	}
	v := readBuildVersion()
	date, err := docDate(v)
	if err != nil {
		return err
	}
	root.DisableAutoGenTag = true // its line carries the time of the build
	header := &doc.GenManHeader{
		Title:   "ROMSYNCD",
		Section: "1",
		Date:    &date,
		Source:  "romsyncd " + v.Version,
		Manual:  "romsyncd manual",
	}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("gendocs: man pages in %s: %w", man, err)
	}
	for name, gen := range map[string]func(string) error{
		"romsyncd.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
		"_romsyncd":     root.GenZshCompletionFile,
		"romsyncd.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
	} {
		if err := gen(filepath.Join(comp, name)); err != nil {
			return fmt.Errorf("gendocs: completion %s: %w", name, err)
		}
	}
	return nil
}

// docDate is the date printed in the man pages.
func docDate(v buildVersion) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, &exitError{code: exitUsage, err: fmt.Errorf("gendocs: SOURCE_DATE_EPOCH=%q is not a number of seconds", s)}
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, v.Date); err == nil {
		return t.UTC(), nil
	}
	return time.Now().UTC(), nil
}

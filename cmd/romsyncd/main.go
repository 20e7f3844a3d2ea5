// Command romsyncd keeps ROM collections mirrored from a library to the SD
// cards of handheld consoles: verified, atomic, and never touching what it
// did not install.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/romsyncd/romsyncd/config"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// Exit codes; see the README.
const (
	exitOK          = 0
	exitNotInSync   = 1 // the pass ran, but files were left out (conflicts, errors, busy, skipped)
	exitUsage       = 2 // bad command line or configuration
	exitRefused     = 3 // a profile could not run: target offline or full, source offline, too many deletions
	exitInterrupted = 130
)

// exitError carries an exit code to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// kindExit is the exit code of each kind of outcome the engine returns for
// a profile; a new kind in package outcome gets its code here.
var kindExit = map[outcome.Kind]int{
	outcome.OK:             exitOK,
	outcome.MarkerMissing:  exitRefused,
	outcome.TargetOffline:  exitRefused,
	outcome.TargetBusy:     exitRefused,
	outcome.WrongProfile:   exitRefused,
	outcome.SourceOffline:  exitRefused,
	outcome.TargetFull:     exitRefused,
	outcome.TooManyDeletes: exitRefused,
	outcome.Canceled:       exitInterrupted,
	outcome.Failed:         exitRefused, // the profile's pass could not run to its end
}

// exitCode maps an error to the process exit code, in one place.
func exitCode(err error) int {
	var ee *exitError
	var ce *config.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce), errors.Is(err, config.ErrNotFound), errors.Is(err, errUsage):
		return exitUsage
	}
	return kindExit[outcome.Of(err)]
}

// reportExit is the exit code of a pass's report (local or the daemon's).
func reportExit(r *romsync.Report) int {
	switch {
	case r.Error != "":
		return kindExit[r.Kind]
	case !r.InSync:
		return exitNotInSync
	}
	return exitOK
}

var errUsage = errors.New("usage")

type globalFlags struct {
	config     string
	logLevel   string
	cpuProfile string
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "romsyncd",
		Short:         "Mirror ROM libraries to handheld SD cards, verified and atomic",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.config, "config", "c", "", "configuration file (default: $ROMSYNCD_CONFIG, $XDG_CONFIG_HOME/romsyncd/config.yaml, /etc/romsyncd/config.yaml)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "debug, info, warn or error (default: the config's log_level, else warn; info for run)")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpuprofile", "", "write a CPU profile to this file (for performance work)")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		limitMemory()
		if g.cpuProfile == "" {
			return nil
		}
		f, err := os.Create(g.cpuProfile)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("cpuprofile: %w", err)}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return &exitError{code: exitUsage, err: fmt.Errorf("cpuprofile: %w", err)}
		}
		return nil
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(newSyncCmd(g), newInitCmd(g), newCheckConfigCmd(g), newLayoutsCmd(), newRunCmd(g), newStatusCmd(g), newCardsCmd(g), newSavesCmd(g), newVersionCmd(root), newGendocsCmd())
	usageErrors(root)
	return root
}

// usageErrors gives cobra's own complaints about the command line exit code
// 2: cobra returns them as plain errors, before any command runs. Wrong
// arguments come from a command's Args; a missing required flag from the
// check cobra makes after the persistent pre-run hook, so the hook makes it
// first. (An unknown command fails before a command is chosen: see main.)
func usageErrors(root *cobra.Command) {
	usage := func(err error) error {
		if err == nil {
			return nil
		}
		return &exitError{code: exitUsage, err: err}
	}
	prev := root.PersistentPreRunE
	root.PersistentPreRunE = func(c *cobra.Command, a []string) error {
		if err := usage(c.ValidateRequiredFlags()); err != nil {
			return err
		}
		if prev != nil {
			return prev(c, a)
		}
		return nil
	}
	for _, c := range root.Commands() {
		if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error { return usage(args(c, a)) }
		}
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(os.Stdout, os.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	pprof.StopCPUProfile() // no-op unless --cpuprofile started one
	if err != nil && cmd == root {
		// An unknown command: cobra fails it before choosing a command.
		err = &exitError{code: exitUsage, err: err}
	}
	code := exitCode(err)
	if err != nil && !isSilent(err) {
		for _, line := range errorLines(err) {
			fmt.Fprintln(os.Stderr, "romsyncd: "+line)
		}
	}
	os.Exit(code)
}

// isSilent: the error was already reported in the command's output.
func isSilent(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.err == nil
}

// errorLines is err on one line, or one line per problem of a
// configuration file with several.
func errorLines(err error) []string {
	var ces config.Errors
	if !errors.As(err, &ces) {
		return []string{oneLine(err.Error())}
	}
	out := make([]string, len(ces))
	for i, e := range ces {
		out[i] = oneLine(e.Error())
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// loadConfig finds and loads the configuration, saying which file is used.
func loadConfig(g *globalFlags, stderr io.Writer) (*config.Config, error) {
	path := g.config
	if path == "" {
		p, from, err := config.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
		fmt.Fprintf(stderr, "romsyncd: using config %s (%s)\n", path, from)
	}
	return config.Load(path)
}

// loadWithLogger loads the configuration and builds the logger at the
// level of the flag, else the config's, else fallback: what every command
// that reads the configuration starts with.
func loadWithLogger(g *globalFlags, stderr, logs io.Writer, fallback string) (*config.Config, *slog.Logger, error) {
	cfg, err := loadConfig(g, stderr)
	if err != nil {
		return nil, nil, err
	}
	log, err := newLogger(logs, g.logLevel, cfg.LogLevel, fallback)
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}

// newLogger builds the process logger: text on stderr, no timestamps under
// journald (it adds its own), quiet by default.
func newLogger(w io.Writer, flag, fromConfig, fallback string) (*slog.Logger, error) {
	level := flag
	if level == "" {
		level = fromConfig
	}
	if level == "" {
		level = fallback
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("log level %q: use debug, info, warn or error", level)}
	}
	journal := os.Getenv("JOURNAL_STREAM") != ""
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if journal && len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), nil
}

// Command probe is the benchmark runner's measuring helper: it times a
// daemon's propagation of new files, samples an idle daemon's CPU and
// memory, times a restarted daemon until it is in sync, compares a mirror
// with its source, and links a library subset.
//
//	probe latency -src LIB -dst MIRROR -folder "Nintendo - Game Boy" -n 20
//	probe idle -pid PID -window 60s
//	probe insync -pid PID -socket SOCK -profile NAME -start $EPOCHREALTIME
//	probe compare -src LIB -dst MIRROR [-modify-window 1s] [-ignore .romsyncd]
//	probe subset -src LIB -dst SUBSET -n 4000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/romsyncd/romsyncd/bench/library"
	"github.com/romsyncd/romsyncd/bench/measure"
	"github.com/romsyncd/romsyncd/status"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe latency|idle|insync|compare|subset [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "latency":
		err = latency(ctx, args)
	case "idle":
		err = idle(ctx, args)
	case "insync":
		err = insync(ctx, args)
	case "compare":
		err = compare(args)
	case "subset":
		err = subset(args)
	default:
		err = fmt.Errorf("unknown command %q (latency, idle, insync, compare, subset)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(v)
}

func latency(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	var c measure.LatencyConfig
	fs.StringVar(&c.Src, "src", "", "library root")
	fs.StringVar(&c.Dst, "dst", "", "mirror root")
	fs.StringVar(&c.Folder, "folder", "", "library folder that receives the probe files")
	fs.StringVar(&c.Tag, "tag", "", "word that makes the probe names unique")
	fs.IntVar(&c.N, "n", 20, "samples")
	fs.IntVar(&c.Size, "size", 256<<10, "bytes per probe file")
	fs.DurationVar(&c.Gap, "gap", time.Second, "pause between samples")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "give up on a sample after this long")
	fs.DurationVar(&c.Poll, "poll", time.Millisecond, "mirror polling interval")
	fs.Parse(args)
	if c.Src == "" || c.Dst == "" || c.Folder == "" {
		return fmt.Errorf("latency: need -src, -dst and -folder")
	}
	res, err := measure.Latency(ctx, c)
	if err != nil {
		return err
	}
	return printJSON(res)
}

func idle(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	c := measure.IdleConfig{Proc: "/proc", Tick: time.Second}
	fs.IntVar(&c.PID, "pid", 0, "daemon process id")
	fs.IntVar(&c.Quiet, "quiet", 3, "quiet seconds in a row that mean the startup pass is over")
	fs.DurationVar(&c.SettleMax, "settle-max", 10*time.Minute, "measure anyway after this long")
	fs.DurationVar(&c.Window, "window", time.Minute, "measured idle time")
	fs.Parse(args)
	if c.PID <= 0 {
		return fmt.Errorf("idle: need -pid")
	}
	res, err := measure.Idle(ctx, c)
	if err != nil {
		return err
	}
	return printJSON(res)
}

// insync waits until the daemon PID, started at -start (seconds since the
// epoch, as bash's $EPOCHREALTIME), says on its control socket that the
// profile is in sync with no dirty folder, and prints how long that took
// and the daemon's memory then.
func insync(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("insync", flag.ExitOnError)
	c := measure.InSyncConfig{Proc: "/proc"}
	fs.IntVar(&c.PID, "pid", 0, "daemon process id")
	socket := fs.String("socket", "", "the daemon's control socket")
	profile := fs.String("profile", "", "profile to wait for")
	start := fs.String("start", "", "when the daemon was started, in seconds since the epoch (default: now)")
	fs.DurationVar(&c.Poll, "poll", 20*time.Millisecond, "status polling interval")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "give up this long after the start")
	fs.Parse(args)
	if c.PID <= 0 || *socket == "" || *profile == "" {
		return fmt.Errorf("insync: need -pid, -socket and -profile")
	}
	if *start != "" {
		secs, err := strconv.ParseFloat(strings.Replace(*start, ",", ".", 1), 64)
		if err != nil {
			return fmt.Errorf("insync: -start %q: %w", *start, err)
		}
		c.Start = time.Unix(0, int64(secs*1e9))
	}
	c.Check = func(ctx context.Context) (bool, error) {
		st, err := status.GetStatus(ctx, *socket)
		if errors.Is(err, status.ErrNoDaemon) {
			return false, nil // not listening yet
		}
		if err != nil {
			return false, err
		}
		for _, p := range st {
			if p.Name != *profile {
				continue
			}
			switch p.State {
			case status.StateInSync:
				return p.DirtyFolders == 0, nil
			case status.StateError, status.StateNotInSync, status.StatePausedOffline:
				return false, fmt.Errorf("profile %s is %s: %s%s", p.Name, p.State, p.LastError, p.Offline)
			}
			return false, nil
		}
		return false, nil // profiles are listed once the daemon has loaded them
	}
	res, err := measure.WaitInSync(ctx, c)
	if err != nil {
		return err
	}
	return printJSON(res)
}

func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	src := fs.String("src", "", "library root")
	dst := fs.String("dst", "", "mirror root")
	var opt measure.CompareOptions
	fs.DurationVar(&opt.ModifyWindow, "modify-window", 0, "tolerated mtime difference")
	ignore := fs.String("ignore", "", "comma-separated names at the mirror root to skip")
	fs.BoolVar(&opt.Sample, "sample", true, "compare each file's first and last 4 KiB")
	fs.Parse(args)
	if *src == "" || *dst == "" {
		return fmt.Errorf("compare: need -src and -dst")
	}
	if *ignore != "" {
		opt.Ignore = strings.Split(*ignore, ",")
	}
	diffs, files, err := measure.Compare(*src, *dst, opt, 10)
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s does not mirror %s:\n  %s", *dst, *src, strings.Join(diffs, "\n  "))
	}
	fmt.Printf("ok: %d files\n", files)
	return nil
}

func subset(args []string) error {
	fs := flag.NewFlagSet("subset", flag.ExitOnError)
	src := fs.String("src", "", "library root")
	dst := fs.String("dst", "", "new library folder")
	n := fs.Int("n", 0, "files (the first ones in path order)")
	fs.Parse(args)
	if *src == "" || *dst == "" || *n <= 0 {
		return fmt.Errorf("subset: need -src, -dst and -n")
	}
	return library.LinkFirst(*src, *dst, *n)
}

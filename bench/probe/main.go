// Command probe is the benchmark runner's measuring helper: it times a
// daemon's propagation of new files, samples an idle daemon's CPU and
// memory, compares a mirror with its source, and links a library subset.
//
//	probe latency -src LIB -dst MIRROR -folder "Nintendo - Game Boy" -n 20
//	probe idle -pid PID -window 60s
//	probe compare -src LIB -dst MIRROR [-modify-window 1s] [-ignore .romsyncd]
//	probe subset -src LIB -dst SUBSET -n 4000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/romsyncd/romsyncd/bench/library"
	"github.com/romsyncd/romsyncd/bench/measure"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe latency|idle|compare|subset [flags]")
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
	case "compare":
		err = compare(args)
	case "subset":
		err = subset(args)
	default:
		err = fmt.Errorf("unknown command %q (latency, idle, compare, subset)", cmd)
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

// Command gen writes a deterministic fake ROM library for benchmarks, or
// applies a deterministic change to one.
//
//	go run ./bench/gen -preset small -seed 1 -out bench/_work/lib/small
//	go run ./bench/gen -mutate small-change -seed 1 -out bench/_work/lib/small
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/romsyncd/romsyncd/bench/library"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	preset := flag.String("preset", "", "library to generate: "+strings.Join(library.PresetNames(), ", "))
	mutate := flag.String("mutate", "", "change an existing library instead: small-change")
	seed := flag.Uint64("seed", 1, "seed; the same seed gives a byte-identical tree")
	out := flag.String("out", "", "library folder (must be missing or empty when generating)")
	workers := flag.Int("workers", 2*runtime.GOMAXPROCS(0), "files written at once")
	quiet := flag.Bool("q", false, "print nothing on success")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *out == "" || (*preset == "") == (*mutate == "") {
		flag.Usage()
		return fmt.Errorf("need -out and exactly one of -preset or -mutate")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if *mutate != "" {
		m, ok := library.Mutations[*mutate]
		if !ok {
			return fmt.Errorf("unknown mutation %q (known: small-change)", *mutate)
		}
		changes, err := library.Mutate(*out, m, *seed)
		if err != nil {
			return err
		}
		if !*quiet {
			for _, c := range changes {
				fmt.Printf("%s\t%s\n", c.Op, c.Rel)
			}
		}
		return nil
	}
	p, ok := library.Presets[*preset]
	if !ok {
		return fmt.Errorf("unknown preset %q (known: %s)", *preset, strings.Join(library.PresetNames(), ", "))
	}
	lib, err := library.Plan(p, *seed)
	if err != nil {
		return err
	}
	if err := library.Write(ctx, *out, lib, *workers); err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "gen: %s seed %d: %d files, %d folders, %.1f MiB in %s\n",
			p.Name, *seed, len(lib.Files), len(lib.Folders), float64(lib.TotalBytes())/(1<<20),
			time.Since(start).Round(time.Millisecond))
	}
	return nil
}

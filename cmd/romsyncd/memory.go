package main

import (
	"os"
	"runtime/debug"
)

// memoryLimit is the soft limit of the Go heap and runtime (GOMEMLIMIT)
// unless the environment sets one. Without it the garbage collector lets
// the heap grow to twice what is live: a pass over a 100,000-file library
// (about 38 MiB live: manifests and the library listing) peaked at 97 MiB
// of RSS. With it the collector runs more often only near the limit; up to
// about 130,000 files that costs no measurable CPU (bench/RESULTS.md), and
// a larger library simply collects more often (GOMEMLIMIT raises it).
const memoryLimit = 50 << 20

func limitMemory() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	debug.SetMemoryLimit(memoryLimit)
}

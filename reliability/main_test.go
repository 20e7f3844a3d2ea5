package reliability

import (
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Flags of the suite. CI runs it with none: a fixed seed and the short
// counts. run-long sets -long (or ROMSYNCD_LONG=1) and larger counts.
var (
	flagLong  = flag.Bool("long", false, "run the long variants (also ROMSYNCD_LONG=1)")
	flagSeed  = flag.Uint64("seed", 0, "base seed (0: a fixed seed in CI mode, a time-based one with -long)")
	flagIters = flag.Int("iterations", 0, "override the iteration count of the kill scenarios (0: the mode's default)")
	flagDur   = flag.Duration("duration", 0, "override how long the churn scenarios churn (0: the mode's default)")
)

// ciSeed is the base seed of CI runs: every CI run injects the same faults
// in the same order (up to scheduling).
const ciSeed = 20251126

var (
	// binPath is the romsyncd binary built once by TestMain.
	binPath string
	// baseSeed is the seed every test's own seed derives from.
	baseSeed uint64
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("ROMSYNCD_LONG") == "1" {
		*flagLong = true
	}
	baseSeed = *flagSeed
	if baseSeed == 0 {
		baseSeed = ciSeed
		if *flagLong {
			baseSeed = uint64(time.Now().UnixNano())
		}
	}
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// buildAndRun builds the real binary into a temp folder and runs the tests.
func buildAndRun(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "romsyncd-reliability-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "romsyncd")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", binPath, "github.com/romsyncd/romsyncd/cmd/romsyncd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("go build ./cmd/romsyncd: %w", err)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "reliability: built %s in %v; base seed %d (long=%v)\n", binPath, time.Since(start).Round(time.Millisecond), baseSeed, *flagLong)
	}
	code := m.Run()
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "reliability: %d invariant checks, %d files checked, %d MiB hashed\n",
			totalChecks.Load(), totalFiles.Load(), totalBytes.Load()>>20)
	}
	return code, nil
}

// long reports whether the long variants run.
func long() bool { return *flagLong }

// iterations is the iteration count of a kill scenario: ci in CI mode,
// long in long mode, or -iterations.
func iterations(ci, longN int) int {
	if *flagIters > 0 {
		return *flagIters
	}
	if long() {
		return longN
	}
	return ci
}

// churnFor is how long a churn scenario churns.
func churnFor(ci, longD time.Duration) time.Duration {
	if *flagDur > 0 {
		return *flagDur
	}
	if long() {
		return longD
	}
	return ci
}

// seeded returns the test's random stream, derived from the base seed and
// the test's name, and arranges for the seed to be printed when the test
// fails.
func seeded(t *testing.T) *rand.Rand {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	seed := baseSeed ^ h.Sum64()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SEED: base seed %d (test seed %d); rerun with: go test ./reliability -run '^%s$' -v -args -seed=%d%s",
				baseSeed, seed, t.Name(), baseSeed, longArg())
		}
	})
	return rand.New(rand.NewPCG(seed, seed>>1|1))
}

func longArg() string {
	s := ""
	if long() {
		s += " -long"
	}
	if *flagIters > 0 {
		s += " -iterations=" + strconv.Itoa(*flagIters)
	}
	return s
}

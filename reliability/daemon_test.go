package reliability

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/status"
)

// convergeTimeout is how long a daemon gets to converge on its own.
func convergeTimeout() time.Duration {
	if long() {
		return 2 * time.Minute
	}
	return 45 * time.Second
}

// waitConverged waits until the daemon, on its own, has made the target an
// exact mirror of the library, then checks every invariant. It fails the
// test (with the daemon's log) when that does not happen in time.
func (w *world) waitConverged(d *daemon, label string) bool {
	w.t.Helper()
	var last verdict
	ok := waitFor(convergeTimeout(), func() bool {
		if !d.running() {
			return true
		}
		if !w.quickMirror() {
			return false
		}
		last = w.inspect(mirror, true)
		return last.ok()
	})
	switch {
	case !d.running():
		e, _ := d.wait(time.Second)
		w.t.Errorf("%s: the daemon died (%v) before converging\n%s", label, e, d.output())
		return false
	case !ok:
		last = w.inspect(mirror, true)
		w.t.Errorf("%s: the daemon did not converge on its own within %v:%s\n%s", label, convergeTimeout(), last, d.output())
		return false
	}
	w.check(label+": converged", mirror)
	return true
}

// quickMirror is a cheap precheck of invariant 3: the same file names and
// sizes on both sides, no temp file.
func (w *world) quickMirror() bool {
	want := map[string]int64{}
	_ = filepath.WalkDir(w.lib.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if alwaysSkipped(d.Name()) && d.IsDir() {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() || alwaysSkipped(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(w.lib.root, p)
		rel = filepath.ToSlash(rel)
		if w.exclude[rel] {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			want[w.tgt(rel)] = fi.Size()
		}
		return nil
	})
	same := true
	n := 0
	_ = filepath.WalkDir(w.target, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !same {
			return nil
		}
		rel, _ := filepath.Rel(w.target, p)
		rel = filepath.ToSlash(rel)
		if rel == ".romsyncd" {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if _, user := w.user[rel]; user {
			return nil
		}
		fi, err := d.Info()
		size, ok := want[rel]
		if err != nil || !ok || fi.Size() != size {
			same = false
			return nil
		}
		n++
		return nil
	})
	return same && n == len(want)
}

// TestKillDaemon kills `romsyncd run` with SIGKILL at random instants of
// its initial mirror and while it mirrors library changes, checks the
// target at once, restarts it and lets it converge on its own.
func TestKillDaemon(t *testing.T) {
	daemonSignalLoop(t, syscall.SIGKILL, iterations(15, 150))
}

// TestTermDaemon stops `romsyncd run` with SIGTERM at random instants of
// its initial mirror and while it mirrors changes: exit 0 within seconds,
// no temp file left, invariants hold; restarted, it converges.
func TestTermDaemon(t *testing.T) {
	daemonSignalLoop(t, syscall.SIGTERM, iterations(10, 100))
}

func daemonSignalLoop(t *testing.T, sig syscall.Signal, iters int) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	w.tolerateKnown = true
	spec := mixedSpec
	w.populate(spec)
	est := w.calibrate(spec)
	if t.Failed() {
		return
	}
	d := w.startDaemon()
	w.waitConverged(d, "daemon start")
	var st struct{ initial, updates, mid, idle int }
	start := time.Now()
	for i := 0; i < iters && !t.Failed(); i++ {
		initial := i%3 == 0
		var did []string
		var lo, span time.Duration
		if initial {
			d.stop("before a target reset")
			w.resetTarget()
			did = []string{"target reset: initial mirror"}
			d = w.startDaemon()
			// The initial pass starts as soon as the watches are set.
			lo, span = 0, est.copying(w.lib.total())+50*time.Millisecond
			st.initial++
		} else {
			mark := w.lib.written.Load()
			did = w.mutate(spec, 1+w.rng.IntN(6))
			if w.rng.IntN(10) < 7 {
				// A large file gives the pass a span worth hitting.
				did = append(did, "add large "+w.putNew(spec.folders[w.rng.IntN(len(spec.folders))], w.largeSize(spec)))
				var large []string
				for _, f := range w.lib.files() {
					if w.lib.size(f) >= 4<<20 {
						large = append(large, f)
					}
				}
				if len(large) > spec.large+2 {
					// Keep the library's size in bounds.
					f := large[w.rng.IntN(len(large))]
					if err := w.lib.remove(f); err != nil {
						t.Fatal(err)
					}
					did = append(did, "delete "+f)
				}
			}
			// The daemon waits for the debounce (100 ms), then copies.
			lo, span = 50*time.Millisecond, 100*time.Millisecond+est.copying(w.lib.written.Load()-mark)+50*time.Millisecond
			st.updates++
		}
		delay := lo + time.Duration(w.rng.Int64N(int64(span-lo)*11/10+1))
		timer := time.NewTimer(delay)
		<-timer.C
		syncing := d.syncing()
		d.signal(sig)
		e, ok := d.wait(20 * time.Second)
		label := fmt.Sprintf("iteration %d/%d (%v after %v of an estimated %v, daemon %s; library changes %q)", i+1, iters, sig, delay, span, e, did)
		if syncing {
			st.mid++
		} else {
			st.idle++
		}
		switch {
		case !ok:
			t.Errorf("%s: the daemon did not stop within 20 s\n%s", label, d.output())
		case sig == syscall.SIGKILL:
			w.check(label+": right after the kill", afterKill)
		case e.code != 0:
			t.Errorf("%s: want exit 0 after SIGTERM\n%s", label, d.output())
		default:
			w.check(label+": after SIGTERM", afterStop)
		}
		w.afterKnownMarkerWindow(label)
		if w.rng.IntN(10) < 3 {
			did = append(did, w.mutate(spec, 1+w.rng.IntN(3))...)
		}
		label = fmt.Sprintf("iteration %d/%d (%v after %v; library changes %q)", i+1, iters, sig, delay, did)
		d = w.startDaemon()
		w.waitConverged(d, label+": restarted daemon")
		if initial {
			w.plantUserFiles()
		}
	}
	if !t.Failed() {
		// A last full pass through the daemon: in sync, nothing to do.
		r := w.sync("romsyncd sync through the daemon")
		if !strings.Contains(r.stderr, "the daemon ran the pass") {
			t.Errorf("romsyncd sync did not go through the daemon: %s", r.stderr)
		}
		w.check("after the last pass", mirror)
	}
	d.stop("end")
	t.Logf("%d iterations in %v: %d initial mirrors, %d update rounds; the %v landed while a pass ran in %d, while idle in %d",
		iters, time.Since(start).Round(time.Millisecond), st.initial, st.updates, sig, st.mid, st.idle)
}

// syncing asks the daemon, through its control socket, whether a pass is
// running.
func (d *daemon) syncing() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := status.GetStatus(ctx, d.w.sock)
	if err != nil {
		return false
	}
	for _, p := range st {
		if p.State == status.StateSyncing {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

package reliability

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// mixedSpec is the library of the kill scenarios on tmpfs: a few large
// cartridge-sized files and many small ones, with edge sizes.
var mixedSpec = libSpec{folders: []string{"GBA", "GB", "SFC", "MD"}, large: 3, small: 40}

// exfatSpec is smaller: exfat-fuse flushes the whole volume on every fsync.
var exfatSpec = libSpec{folders: []string{"GBA", "GB", "SFC"}, large: 1, largeMin: 8 << 20, largeMax: 10 << 20, small: 16}

// TestKillSyncTmpfs kills `romsyncd sync` with SIGKILL at random instants
// spread over the pass (first mirrors and updates), and now and then
// interrupts it with SIGINT or SIGTERM instead. A killed run must already
// leave only verified files under final names; the next sync must remove
// what it left and converge to an exact mirror.
func TestKillSyncTmpfs(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	killSyncLoop(t, w, mixedSpec, iterations(50, 400), syscall.SIGKILL)
}

// TestKillSyncExFAT is the same on an exFAT card image (exfat-fuse on a
// loop device): 1 s timestamps, case-insensitive, per-file fsync.
func TestKillSyncExFAT(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{target: exfatTarget})
	killSyncLoop(t, w, exfatSpec, iterations(6, 60), syscall.SIGKILL)
}

// TestInterruptSync interrupts `romsyncd sync` with SIGINT and SIGTERM at
// random instants: the README promises exit 130 with the temp files
// removed, or 0 when the pass finished first, and never "in sync" for a
// pass that was cut short.
func TestInterruptSync(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	killSyncLoop(t, w, mixedSpec, iterations(10, 100), syscall.SIGINT, syscall.SIGTERM)
}

// killSyncLoop runs iters iterations: change the library (or reset the
// target for a first mirror), start `romsyncd sync`, send one of sigs at a
// random instant, check, run `romsyncd sync` to completion, check.
func killSyncLoop(t *testing.T, w *world, spec libSpec, iters int, sigs ...syscall.Signal) {
	w.tolerateKnown = true
	w.populate(spec)
	est := w.calibrate(spec)
	if t.Failed() {
		return
	}
	var st struct{ kills, mid, before, interrupts, tempsLeft, converge int }
	start := time.Now()
	for i := 0; i < iters && !t.Failed(); i++ {
		first := i%5 == 0
		var did []string
		mark := w.lib.written.Load()
		var work int64
		if first {
			w.resetTarget()
			work = w.lib.total()
			did = []string{"target reset: first mirror"}
		} else {
			did = w.mutate(spec, 1+w.rng.IntN(6))
			work = w.lib.written.Load() - mark
		}
		span := est.of(work)
		sig := sigs[w.rng.IntN(len(sigs))]
		delay := time.Duration(w.rng.Int64N(int64(span)*11/10 + 1))
		if sig != syscall.SIGKILL {
			// An interrupt before main installed its handlers gets Go's
			// default action, whatever romsyncd does: aim after the
			// time a whole no-op run takes.
			delay = est.base + time.Duration(w.rng.Int64N(int64(max(span*11/10-est.base, 0))+1))
		}
		p := w.start("sync", "--json")
		timer := time.AfterFunc(delay, func() { p.signal(sig) })
		res := p.result(2 * time.Minute)
		timer.Stop()
		label := fmt.Sprintf("iteration %d/%d (%v after %v of an estimated %v: %v; library changes %q)", i+1, iters, sig, delay, span, res.exit, did)
		switch {
		case !res.finished:
			t.Errorf("%s: romsyncd sync hung\n%s", label, p.output())
		case sig == syscall.SIGKILL && res.sig == syscall.SIGKILL:
			st.kills++
			st.mid++
			v := w.check(label+": right after the kill", afterKill)
			if len(v.temps) > 0 {
				st.tempsLeft++
			}
		case res.sig == sig && delay < 2*est.base:
			// Killed by the default action before main installed its
			// handler (a slow start): the same as a SIGKILL.
			st.interrupts++
			w.check(label+": right after the signal (before startup finished)", afterKill)
		case sig != syscall.SIGKILL && res.code == 130:
			st.interrupts++
			st.mid++
			w.check(label+": after the interrupted run", afterStop)
		case res.code == 0:
			st.before++
			est.learn(work, res.dur)
			w.check(label+": run finished before the signal", mirror)
		default:
			t.Errorf("%s: unexpected end %v, want killed, 130 on an interrupt, or 0\n%s", label, res.exit, p.output())
		}
		w.afterKnownMarkerWindow(label)
		if w.rng.IntN(10) < 3 {
			// The user changes the library before the next run.
			did = append(did, w.mutate(spec, 1+w.rng.IntN(3))...)
		}
		label = fmt.Sprintf("iteration %d/%d (%v after %v; library changes %q)", i+1, iters, sig, delay, did)
		w.sync(label + ": converging sync")
		w.check(label+": after the converging sync", mirror)
		st.converge++
		if first {
			w.plantUserFiles()
		}
	}
	t.Logf("%d iterations in %v: %d SIGKILLs mid-pass (%d left temp files), %d SIGINT/SIGTERM interrupts, %d runs finished before the signal, %d converging syncs checked",
		st.converge, time.Since(start).Round(time.Millisecond), st.kills, st.tempsLeft, st.interrupts, st.before, st.converge)
}

// passEstimate predicts how long a pass that copies n bytes takes: the
// fixed cost of a run plus n at the measured rate.
type passEstimate struct {
	base time.Duration
	rate float64 // bytes per second
}

func (e *passEstimate) of(n int64) time.Duration {
	return e.base + time.Duration(float64(n)/e.rate*float64(time.Second))
}

// copying is how long copying n bytes takes, without the cost of starting
// a run (the daemon is already running).
func (e *passEstimate) copying(n int64) time.Duration {
	return e.of(n) - e.base
}

// learn folds the duration of a pass that ran to its end into the rate.
func (e *passEstimate) learn(n int64, d time.Duration) {
	if n < 1<<20 || d <= e.base {
		return
	}
	r := float64(n) / (d - e.base).Seconds()
	e.rate = 0.7*e.rate + 0.3*r
}

// calibrate measures a run that has nothing to do and a first mirror,
// plants the user's files and leaves the target converged.
func (w *world) calibrate(spec libSpec) *passEstimate {
	w.t.Helper()
	r := w.sync("calibration: first mirror")
	w.check("calibration: first mirror", mirror)
	first := r.dur
	w.plantUserFiles()
	noop := time.Duration(1 << 62)
	for range 3 {
		if d := w.sync("calibration: no-op pass").dur; d < noop {
			noop = d
		}
	}
	e := &passEstimate{base: noop, rate: float64(w.lib.total()) / max(first-noop, time.Millisecond).Seconds()}
	mark := w.lib.written.Load()
	w.mutate(spec, 4)
	n := w.lib.written.Load() - mark
	r = w.sync("calibration: update")
	w.check("calibration: update", mirror)
	e.learn(n, r.dur)
	w.t.Logf("calibration: no-op run %v, first mirror of %d MiB %v, copy rate %.0f MiB/s; kill instants spread over 0..110%% of each pass's estimate",
		noop, w.lib.total()>>20, first, e.rate/(1<<20))
	return e
}

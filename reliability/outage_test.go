package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloads counts the daemon's finished reloads (applied or refused).
func (d *daemon) reloads() int {
	return d.count(`msg="configuration reloaded"`) + d.count(`msg="reload failed`)
}

// TestDaemonSIGHUPStorm reloads the daemon 50 times (500 in long mode) in
// a row while it
// mirrors (its initial mirror, then library changes): every fifth reload
// changes a profile key (the profile's runner restarts mid-pass), one
// reload reads a broken file (the running configuration stays), and a
// burst of unsynchronized SIGHUPs ends the storm. The daemon must keep
// running and converge.
func TestDaemonSIGHUPStorm(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	w.tolerateKnown = true
	w.populate(mixedSpec)
	d := w.startDaemon()
	want := 0
	storm := 50
	if long() {
		storm = 500
	}
	for i := range storm {
		if i%2 == 1 {
			w.mutate(mixedSpec, 1)
		}
		switch {
		case i == storm/2:
			writeFileAtomic(t, w.cfg, []byte("profiles:\n  - name: card\n    source: [unterminated\n"))
		case i%5 == 0:
			w.writeConfig(fmt.Sprintf("    workers: %d\n", 1+i/5%2))
		default:
			w.writeConfig(w.profile)
		}
		want++
		d.signal(syscall.SIGHUP)
		if !waitFor(15*time.Second, func() bool { return d.reloads() >= want || !d.running() }) || !d.running() {
			t.Fatalf("reload %d: the daemon did not finish the reload (running: %v, %d reloads logged)\n%s", i+1, d.running(), d.reloads(), d.output())
		}
	}
	if d.count(`msg="reload failed`) != 1 {
		t.Errorf("the broken configuration was not refused exactly once:\n%s", d.output())
	}
	w.writeConfig("")
	for range 20 {
		d.signal(syscall.SIGHUP)
	}
	w.mutate(mixedSpec, 3)
	if !waitFor(15*time.Second, func() bool { return d.reloads() > want || !d.running() }) || !d.running() {
		t.Fatalf("after a burst of SIGHUPs the daemon did not reload (running: %v)\n%s", d.running(), d.output())
	}
	w.waitConverged(d, "after the SIGHUP storm")
	w.sync("romsyncd sync through the daemon")
	d.stop("after the SIGHUP storm")
	t.Logf("%d reloads logged (%d restarted the profile's runner, %d refused); the daemon converged", d.reloads(), d.count("restarted_or_added=1"), d.count(`msg="reload failed`))
}

// TestDaemonLibraryUnmounted unmounts the library (a bind mount, as a NAS
// share is) under a running daemon: the library root is an empty folder.
// The daemon and `romsyncd sync` must delete nothing and say why; once
// the library is back, the daemon converges on its own, and then still
// sees changes in it.
func TestDaemonLibraryUnmounted(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{bindLibrary: true})
	libraryOutage(t, w, func() { w.unbindLibrary() }, func() { w.bindLibrary() }, nil)
}

// TestDaemonLibraryRootReplaced moves the library away and puts an empty
// folder in its place under a running daemon; meanwhile files keep
// changing in the moved library (the daemon's old watches still point
// there). Nothing may be deleted; once the library is back, the daemon
// converges and sees changes.
func TestDaemonLibraryRootReplaced(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	away := w.lib.root + ".away"
	libraryOutage(t, w, func() {
		if err := os.Rename(w.lib.root, away); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(w.lib.root, 0o755); err != nil {
			t.Fatal(err)
		}
	}, func() {
		if err := os.Remove(w.lib.root); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(away, w.lib.root); err != nil {
			t.Fatal(err)
		}
	}, func() {
		// Work goes on in the moved library: events under the old
		// watches, for folders that are gone from the library root.
		for _, rel := range w.lib.files()[:3] {
			p := filepath.Join(away, filepath.FromSlash(rel))
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// libraryOutage mirrors a library with the daemon, takes the library away
// (down), optionally touches things while it is away (during), checks
// that nothing on the target changed, brings it back (up) and checks
// that the daemon converges and keeps seeing changes.
func libraryOutage(t *testing.T, w *world, down, up, during func()) {
	w.tolerateKnown = true
	w.populate(mixedSpec)
	d := w.startDaemon()
	w.waitConverged(d, "initial mirror")
	w.plantUserFiles()
	cycles := 1
	if long() {
		cycles = 5
	}
	for c := 1; c <= cycles && !t.Failed(); c++ {
		outageCycle(t, w, d, fmt.Sprintf("outage %d/%d", c, cycles), down, up, during)
	}
	d.stop("end")
}

func outageCycle(t *testing.T, w *world, d *daemon, label string, down, up, during func()) {
	before := w.snapshot()
	paused := d.count("profile paused")

	down()
	if during != nil {
		during()
	}
	// The daemon retries an offline profile every 5 s with a full pass;
	// ask for one at once too, through the daemon and through a local run.
	r := w.run(time.Minute, "sync", "--json")
	if r.code != 3 || len(r.reports) != 1 || !strings.Contains(r.reports[0].Error, "source") {
		t.Errorf("%s: romsyncd sync through the daemon with the library gone: %v, want exit 3 and a report that names the source\nstdout:\n%s\nstderr:\n%s", label, r.exit, r.stdout, r.stderr)
	}
	if diff := w.sameSnapshot(before); len(diff) > 0 {
		t.Errorf("%s: the target changed while the library was gone (invariant: zero deletions):\n  %s", label, strings.Join(diff, "\n  "))
	}
	// Let the daemon's own retry run at least once (it logs the pause).
	if !waitFor(20*time.Second, func() bool { return d.count("profile paused") > paused || !d.running() }) {
		t.Errorf("%s: the daemon did not pause the profile while the library was gone\n%s", label, d.output())
	}
	if diff := w.sameSnapshot(before); len(diff) > 0 {
		t.Errorf("%s: the target changed while the library was gone (invariant: zero deletions):\n  %s", label, strings.Join(diff, "\n  "))
	}
	w.check(label+": while the library was gone", afterStop)

	up()
	if during != nil {
		// The files removed in the moved library are really gone now.
		for _, rel := range w.lib.files()[:3] {
			if !fileExists(w.lib.abs(rel)) {
				w.lib.h.mu.Lock()
				delete(w.lib.h.cur, rel)
				w.lib.h.mu.Unlock()
			}
		}
	}
	w.waitConverged(d, label+": library back")
	// The watches must follow the library that came back: a change is
	// mirrored without a full pass being asked for.
	did := w.mutate(mixedSpec, 4)
	for range 3 {
		did = append(did, "add "+w.putNew(mixedSpec.folders[w.rng.IntN(len(mixedSpec.folders))], w.smallSize()))
	}
	w.waitConverged(d, fmt.Sprintf("%s: a change after the library came back (%q)", label, did))
}

// cpuTime is the CPU time the process has used so far (/proc/PID/stat).
func (p *proc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// TestDaemonIdleWhileLibraryEmpty: while the library root is an empty
// folder (a NAS share unmounted under its mount point), the daemon must
// wait for its retry interval (5 s) between attempts, not spin: a few
// attempts and log lines in 8 s, not thousands, and little CPU.
func TestDaemonIdleWhileLibraryEmpty(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{bindLibrary: true})
	w.populate(libSpec{folders: []string{"GBA", "GB"}, small: 10})
	d := w.startDaemon()
	w.waitConverged(d, "initial mirror")
	w.unbindLibrary()
	defer w.bindLibrary()
	// Wait until the daemon noticed, then measure a 4 s window.
	if !waitFor(20*time.Second, func() bool { return d.count("profile paused") > 0 }) {
		t.Fatalf("the daemon never paused the profile\n%s", d.output())
	}
	cpu0, lines0, start := d.cpuTime(), d.count("profile paused"), time.Now()
	time.Sleep(8 * time.Second) // the measured window (past the 5 s retry): what the daemon does on its own
	cpu, lines, wall := d.cpuTime()-cpu0, d.count("profile paused")-lines0, time.Since(start)
	t.Logf("in %v with the library gone: %v CPU, %d \"profile paused\" lines", wall.Round(time.Millisecond), cpu, lines)
	if cpu > wall/4 {
		t.Errorf("the daemon used %v CPU in %v while the library was gone: it spins", cpu, wall.Round(time.Millisecond))
	}
	if lines > 3 {
		t.Errorf("the daemon logged \"profile paused\" %d times in %v (retry interval 5 s): it spins", lines, wall.Round(time.Millisecond))
	}
	d.stop("end")
}

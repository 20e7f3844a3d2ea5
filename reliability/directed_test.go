package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Known bugs that the randomized scenarios would otherwise trip over on
// every run. Each has a directed test below, skipped with "BUG:" until it
// is fixed; when it is, set the flag to false so the randomized scenarios
// enforce the invariant again.
const (
	// knownBugLeftoverFolder: see TestNestedNewFolderDeleted.
	knownBugLeftoverFolder = false
	// knownBugTempInGoneFolder: fixed (the in-flight journal); see
	// TestKilledInNewFolderThenFolderDeleted.
	knownBugTempInGoneFolder = false
	// knownBugProbeLitter: see TestKilledDuringProbe.
	knownBugProbeLitter = false
	// knownBugMetaTemp: see TestKilledWritingMetaFile.
	knownBugMetaTemp = false
	// knownBugMarkerWindow: see TestKilledWritingMarker.
	knownBugMarkerWindow = false
)

// afterKnownMarkerWindow handles, in a randomized scenario, a kill that
// landed in the marker write of a first pass (a known bug): the target
// has .romsyncd/ but no marker, and every run refuses it. It logs that and
// applies the README's remedy, `romsyncd init`, so the scenario goes on.
func (w *world) afterKnownMarkerWindow(label string) {
	w.t.Helper()
	meta := filepath.Join(w.target, ".romsyncd")
	if !w.tolerateKnown || !knownBugMarkerWindow || !fileExists(meta) || fileExists(filepath.Join(meta, "marker")) {
		return
	}
	w.t.Logf("%s: known bug (tolerated here, see TestKilledWritingMarker): the kill hit the first pass's marker write; running romsyncd init", label)
	if r := w.run(time.Minute, "init", "--profile", "card"); r.code != 0 {
		w.t.Errorf("%s: romsyncd init: %v\n%s", label, r.exit, r.stderr)
	}
}

// killWhileStaging starts `romsyncd sync` and kills it with SIGKILL as soon
// as a temp file appears in target folder dir: the run dies while it
// copies into that folder. It fails the test if no temp file shows up
// before the run ends.
func (w *world) killWhileStaging(dir string) {
	w.t.Helper()
	p, e := w.signalWhileStaging(dir, syscall.SIGKILL)
	if e.sig != syscall.SIGKILL {
		w.t.Fatalf("the run was not killed while copying into %s (%v)\n%s", dir, e, p.output())
	}
	w.check("right after the kill in "+dir, afterKill)
}

// signalWhileStaging starts `romsyncd sync`, sends sig as soon as a temp
// file appears in target folder dir, and waits for the run to end.
func (w *world) signalWhileStaging(dir string, sig syscall.Signal) (*proc, exit) {
	w.t.Helper()
	p := w.start("sync", "--json")
	abs := filepath.Join(w.target, filepath.FromSlash(dir))
	seen := false
	for p.running() && !seen {
		ents, _ := os.ReadDir(abs)
		for _, e := range ents {
			if tempRE.MatchString(e.Name()) {
				seen = true
				break
			}
		}
		if !seen {
			time.Sleep(200 * time.Microsecond)
		}
	}
	p.signal(sig)
	e, _ := p.wait(time.Minute)
	if !seen {
		w.t.Fatalf("no temp file appeared in %s before the run ended (%v)\n%s", dir, e, p.output())
	}
	return p, e
}

// TestInterruptWhileCopying sends SIGINT, then in a second round SIGTERM,
// to `romsyncd sync` while it copies: exit 130 (README), the temp files
// removed, only verified files under final names; the next sync converges.
func TestInterruptWhileCopying(t *testing.T) {
	w := newFolderWorld(t)
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if i > 0 {
			w.resetTarget()
			w.sync("first mirror again")
			for range 3 {
				w.putNew("GBA/Newer", 24<<20)
			}
		}
		dir := []string{"GBA/New", "GBA/Newer"}[i]
		p, e := w.signalWhileStaging(dir, sig)
		if e.code != 130 {
			t.Errorf("%v while copying into %s: %v, want exit 130 (interrupted)\n%s", sig, dir, e, p.output())
		}
		w.check(sig.String()+" while copying", afterStop)
		w.sync("converging sync")
		w.check("after the converging sync", mirror)
	}
}

// newFolderWorld is a converged target, then a new library folder
// GBA/New with large files that take a while to copy.
func newFolderWorld(t *testing.T) *world {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	w.populate(libSpec{folders: []string{"GBA", "GB"}, small: 10})
	w.sync("first mirror")
	w.plantUserFiles()
	for range 3 {
		w.putNew("GBA/New", 24<<20)
	}
	w.putNew("GBA/New", 1000)
	return w
}

// TestKilledInNewFolderThenFolderDeleted: a run killed while it copies the
// first files into a folder it just created; the library then drops that
// folder. The next sync must remove the temp file the killed run left and
// the folder romsyncd created.
func TestKilledInNewFolderThenFolderDeleted(t *testing.T) {
	w := newFolderWorld(t)
	w.killWhileStaging("GBA/New")
	if err := w.lib.removeDir("GBA/New"); err != nil {
		t.Fatal(err)
	}
	w.sync("sync after the folder was deleted from the library")
	w.check("after the sync", mirror)
	w.sync("a second sync")
	w.check("after a second sync", mirror)
}

// TestKilledInNewFolderThenConvergedThenDeleted: a run killed (SIGKILL) or
// interrupted (SIGINT) while it copies the first files into a folder it
// just created; the next sync completes the folder; later the library
// drops the folder. romsyncd created the folder, so it must remove it once
// it has emptied it.
func TestKilledInNewFolderThenConvergedThenDeleted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			w := newFolderWorld(t)
			if _, e := w.signalWhileStaging("GBA/New", sig); e.sig != sig && e.code != 130 {
				t.Fatalf("%v while copying: %v", sig, e)
			}
			w.sync("converging sync")
			w.check("after the converging sync", mirror)
			if err := w.lib.removeDir("GBA/New"); err != nil {
				t.Fatal(err)
			}
			w.sync("sync after the folder was deleted from the library")
			w.check("after the folder was deleted", mirror)
		})
	}
}

// TestNewFolderDeletedWithoutKill is the control of the two above: without
// a kill, a folder romsyncd created goes once the library drops it.
func TestNewFolderDeletedWithoutKill(t *testing.T) {
	w := newFolderWorld(t)
	w.sync("sync of the new folder")
	w.check("after the sync", mirror)
	if err := w.lib.removeDir("GBA/New"); err != nil {
		t.Fatal(err)
	}
	w.sync("sync after the folder was deleted from the library")
	w.check("after the folder was deleted", mirror)
}

// TestNestedNewFolderDeleted: a library folder that holds only a
// subfolder (NES/Hacks/x.nes) is created on the card by romsyncd, parent
// and child; when the library drops it, both must go.
func TestNestedNewFolderDeleted(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	w.populate(libSpec{folders: []string{"GBA"}, small: 4})
	w.sync("first mirror")
	w.putNew("NES/Hacks", 1000)
	w.putNew("NES/Hacks/Deeper", 1000)
	w.sync("sync of the nested folder")
	w.check("after the sync", mirror)
	if err := w.lib.removeDir("NES"); err != nil {
		t.Fatal(err)
	}
	w.sync("sync after the library dropped NES")
	w.check("after the library dropped NES", mirror)
}

// TestKilledDuringProbe kills `romsyncd sync` while it probes the card
// (the probe files it creates in .romsyncd/ at the start of every run; a
// card pulled at that instant does the same, see TestCardPulled). The
// next runs must not leave the probe files behind forever.
func TestKilledDuringProbe(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{target: exfatTarget, targetSize: "64M"})
	w.populate(libSpec{folders: []string{"GBA"}, small: 3})
	w.sync("first mirror")
	meta := filepath.Join(w.target, ".romsyncd")
	killed := false
	for attempt := 0; attempt < 20 && !killed; attempt++ {
		p := w.start("sync", "--json")
		for p.running() && !killed {
			ents, _ := os.ReadDir(meta)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".romsyncd-probe-") {
					p.signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
		}
		p.wait(time.Minute)
	}
	if !killed {
		t.Skip("could not catch a run in its probe in 20 attempts")
	}
	w.sync("after the kill")
	w.sync("a second sync")
	w.check("after two syncs", mirror)
}

// killWritingMeta starts first passes (a reset target each time) on w
// until it catches one with a temp file in .romsyncd/ for which ready
// holds, and kills it there. It reports whether it did.
func (w *world) killWritingMeta(attempts int, reset bool, ready func(meta string) bool) bool {
	w.t.Helper()
	meta := filepath.Join(w.target, ".romsyncd")
	for attempt := 0; attempt < attempts; attempt++ {
		if reset {
			w.resetTarget()
		}
		p := w.start("sync", "--json")
		killed := false
		for p.running() && !killed {
			ents, _ := os.ReadDir(meta)
			for _, e := range ents {
				if tempRE.MatchString(e.Name()) && ready(meta) {
					p.signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
		}
		if e, _ := p.wait(time.Minute); killed && e.sig == syscall.SIGKILL {
			return true
		}
	}
	return false
}

// TestKilledWritingMarker kills a profile's very first `romsyncd sync`
// while it writes the target's marker (through a temp file in .romsyncd/;
// on a FUSE card its fsync takes milliseconds). The next sync must finish
// the first pass, not refuse the card it created itself.
func TestKilledWritingMarker(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{target: exfatTarget, targetSize: "64M"})
	w.populate(libSpec{folders: []string{"GBA", "GB"}, small: 8})
	if !w.killWritingMeta(30, true, func(meta string) bool { return !fileExists(filepath.Join(meta, "marker")) }) {
		t.Skip("could not catch a first pass writing its marker in 30 attempts")
	}
	w.sync("after the kill")
	w.sync("a second sync")
	w.check("after two syncs", mirror)
}

// TestKilledWritingMetaFile kills `romsyncd sync` while it writes another
// file of its folder .romsyncd/ (such as an in-flight journal) through a
// temp file there, after the marker exists. The next runs must remove
// that temp file.
func TestKilledWritingMetaFile(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{target: exfatTarget, targetSize: "64M"})
	var folders []string
	for i := range 12 {
		folders = append(folders, fmt.Sprintf("Set %02d", i))
	}
	w.populate(libSpec{folders: folders[:1], small: 2})
	w.sync("first pass")
	w.populate(libSpec{folders: folders, small: 24})
	if !w.killWritingMeta(30, false, func(string) bool { return true }) {
		t.Skip("no run wrote a file in .romsyncd/ itself in 30 attempts (nothing to test)")
	}
	w.sync("after the kill")
	w.sync("a second sync")
	w.check("after two syncs", mirror)
}

package reliability

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/faultfs"
)

// TestFaultyLibrary serves the library through faultfs, a FUSE filesystem
// that misbehaves the way dying disks and flaky NAS shares do, and syncs
// while random files fail: EIO at a random offset, short reads (legal:
// must be mirrored anyway), an early end of file, a stat size that lies,
// slow reads, a file appended to while it is read. No run may install a
// file that is not a version the library had, leave a temp file, or keep
// quiet about a file it did not mirror; once the faults clear, one sync
// converges.
func TestFaultyLibrary(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	w.tolerateKnown = true
	spec := libSpec{folders: []string{"GBA", "GB", "SFC"}, large: 2, largeMin: 2 << 20, largeMax: 6 << 20, small: 30}
	w.populate(spec)
	fsys := faultfs.Mount(t, w.lib.root, faultfs.Options{Seed: int64(rng.Uint64() >> 1)})
	w.source = fsys.Dir()
	w.writeConfig("")
	w.sync("first mirror through faultfs")
	w.check("first mirror", mirror)
	w.plantUserFiles()

	iters := iterations(8, 80)
	kinds := []string{"eio", "short", "eof", "statsize-up", "statsize-down", "delay", "change"}
	for i := 0; i < iters && !t.Failed(); i++ {
		did := w.mutate(spec, 1+w.rng.IntN(5))
		files := w.lib.files()
		faulted := map[string]string{}
		for range 1 + w.rng.IntN(6) {
			rel := files[w.rng.IntN(len(files))]
			size := w.lib.size(rel)
			f := faultfs.NoFault()
			kind := kinds[w.rng.IntN(len(kinds))]
			switch kind {
			case "eio":
				f.EIOAtOffset = w.rng.Int64N(size + 1)
			case "short":
				f.ShortReads = true
			case "eof":
				if size == 0 {
					continue
				}
				f.EarlyEOF = w.rng.Int64N(size)
			case "statsize-up":
				f.StatSize = size + 1 + w.rng.Int64N(4096)
			case "statsize-down":
				if size == 0 {
					continue
				}
				f.StatSize = w.rng.Int64N(size)
			case "delay":
				f.ReadDelay = time.Duration(1+w.rng.IntN(5)) * time.Millisecond
			case "change":
				f.ChangeWhileRead = true
			}
			if w.rng.IntN(3) == 0 && kind != "change" {
				f.Probability = 0.5
			}
			fsys.Set(rel, f)
			faulted[rel] = kind
		}
		label := fmt.Sprintf("iteration %d/%d (faults %v; library changes %q)", i+1, iters, faulted, did)
		r := w.run(2*time.Minute, "sync", "--json")
		noPanic(t, label, r)
		w.recordChanged(faulted)
		if !r.finished || r.code < 0 || r.code > 1 || len(r.reports) != 1 {
			t.Errorf("%s: romsyncd sync: %v (finished %v), want exit 0 or 1 with a report\n%s\n%s", label, r.exit, r.finished, r.stdout, r.stderr)
			continue
		}
		w.check(label+": with faults", afterStop)
		w.checkReported(label, r.reports[0], faulted)
		for rel := range faulted {
			fsys.Clear(rel)
		}
		w.sync(label + ": after the faults cleared")
		w.check(label+": after the faults cleared", mirror)
	}
	inj := fsys.Injected()
	keys := make([]string, 0, len(inj))
	for k, n := range inj {
		keys = append(keys, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(keys)
	t.Logf("%d iterations; faults injected: %s", iters, strings.Join(keys, " "))
}

// recordChanged adds the content a ChangeWhileRead fault appended to the
// library's history: the library really had that version.
func (w *world) recordChanged(faulted map[string]string) {
	w.t.Helper()
	for rel, kind := range faulted {
		if kind != "change" {
			continue
		}
		v, err := hashFile(w.lib.abs(rel))
		if err != nil {
			continue
		}
		w.lib.h.mu.Lock()
		addTo(w.lib.h.versions, rel, v)
		w.lib.h.cur[rel] = v
		w.lib.h.mu.Unlock()
	}
}

// checkReported checks invariant 3's second half for a run with faults:
// every library file that is not on the target in its current version is
// reported with a reason; a file whose reads were only short must be
// mirrored.
func (w *world) checkReported(label string, rep report, faulted map[string]string) {
	w.t.Helper()
	reported := map[string]bool{}
	for _, list := range [][]item{rep.Skipped, rep.Errors, rep.Conflicts} {
		for _, it := range list {
			reported[it.Path] = true
			// A folder-level error covers its files.
			reported[it.Path+"/"] = true
		}
	}
	held := rep.DeletesHeld != ""
	for _, rel := range w.lib.files() {
		want, err := hashFile(w.lib.abs(rel))
		if err != nil {
			continue
		}
		got, err := hashFile(w.target + "/" + w.tgt(rel))
		if err == nil && got == want {
			continue
		}
		if faulted[rel] == "short" {
			w.t.Errorf("%s: %s only had short reads (legal) but is not mirrored", label, rel)
			continue
		}
		if !reported[rel] && !reported[path.Dir(rel)+"/"] {
			w.t.Errorf("%s: %s (fault %q) is not mirrored and not reported (in_sync %v, deletes held %v)", label, rel, faulted[rel], rep.InSync, held)
		}
	}
}

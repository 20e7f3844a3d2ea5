package reliability

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// TestCardPulled pulls the exFAT card (a lazy unmount, as when a card is
// yanked while files on it are open) at a random instant of a sync. The
// run must stop with a reason (exit 3: target offline) or have finished
// first; it must never write into the empty mount point the card leaves
// behind; and once the card is back, what it holds must be verified
// versions and one more sync converges.
func TestCardPulled(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{target: exfatTarget})
	w.tolerateKnown = true
	spec := exfatSpec
	w.populate(spec)
	est := w.calibrate(spec)
	if t.Failed() {
		return
	}
	iters := iterations(4, 40)
	var pulledMid, before int
	for i := 0; i < iters && !t.Failed(); i++ {
		mark := w.lib.written.Load()
		did := w.mutate(spec, 2+w.rng.IntN(4))
		if w.rng.IntN(2) == 0 {
			did = append(did, "add large "+w.putNew(spec.folders[0], 4<<20+w.rng.Int64N(4<<20)))
		}
		span := est.of(w.lib.written.Load() - mark)
		delay := time.Duration(w.rng.Int64N(int64(span) + 1))
		p := w.start("sync", "--json")
		time.Sleep(delay) // the instant the card is pulled: fault injection, not an assertion
		testfs.Unmount(t, w.mnt, true)
		res := p.result(time.Minute)
		label := fmt.Sprintf("iteration %d/%d (card pulled after %v of an estimated %v: %v; library changes %q)", i+1, iters, delay, span, res.exit, did)
		noPanic(t, label, res)
		switch {
		case !res.finished:
			t.Errorf("%s: romsyncd sync hung after the card was pulled\n%s", label, p.output())
		case res.code == 3:
			pulledMid++
			if len(res.reports) != 1 || res.reports[0].Error == "" {
				t.Errorf("%s: exit 3 without a report that says why\n%s\n%s", label, res.stdout, res.stderr)
			}
		case res.code == 0 || res.code == 1:
			before++
		default:
			t.Errorf("%s: %v, want 3 (target offline) or a finished run\n%s", label, res.exit, p.output())
		}
		if ents, err := os.ReadDir(w.mnt); err != nil || len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s: romsyncd wrote into the empty mount point the card left: %v (%v)", label, names, err)
			for _, e := range ents {
				os.RemoveAll(w.mnt + "/" + e.Name())
			}
		}
		testfs.Remount(t, w.mnt)
		w.check(label+": card back", afterKill)
		w.sync(label + ": sync with the card back")
		w.check(label+": after the sync", mirror)
	}
	t.Logf("%d card pulls: %d stopped the run (exit 3), %d after it finished", iters, pulledMid, before)
}

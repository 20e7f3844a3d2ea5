package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// churn drives the library from goroutines while a daemon mirrors it. Its
// lock keeps a folder rename from interleaving with a write into that
// folder, so that the history knows every version of every path (the
// daemon is not part of that lock: it sees every change as it happens).
type churn struct {
	w   *world
	mu  stdsync.RWMutex
	ops atomic.Int64 // file operations done
	dir atomic.Int64 // folder operations done
	n   atomic.Int64 // names
	errs
}

type errs struct {
	mu   stdsync.Mutex
	list []string
}

func (e *errs) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.list) < 50 {
		e.list = append(e.list, fmt.Sprintf(format, args...))
	}
}

func (e *errs) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

func (c *churn) name(dir string, rng *rand.Rand) string {
	return fmt.Sprintf("%s/Churn %05d (%s).gba", dir, c.n.Add(1), []string{"USA", "Europe", "Japan"}[rng.IntN(3)])
}

// folderFiles lists the model's files directly in dir.
func (c *churn) folderFiles(dir string) []string {
	var out []string
	for _, f := range c.w.lib.files() {
		if path.Dir(f) == dir {
			out = append(out, f)
		}
	}
	return out
}

// writer creates, overwrites (atomically or in place) and deletes small
// files in the given folders until ctx is done.
func (c *churn) writer(ctx context.Context, rng *rand.Rand, folders []string) {
	for ctx.Err() == nil {
		c.mu.RLock()
		dir := folders[rng.IntN(len(folders))]
		files := c.folderFiles(dir)
		var err error
		switch op := rng.IntN(10); {
		case len(files) < 3 || op < 3 && len(files) < 25:
			rel := c.name(dir, rng)
			data := content(rng.Uint64(), rng.Int64N(64<<10))
			if rng.IntN(2) == 0 {
				err = c.w.lib.put(rel, data)
			} else {
				err = c.w.lib.putInPlace(rel, data)
			}
		case op < 8:
			rel := files[rng.IntN(len(files))]
			data := content(rng.Uint64(), rng.Int64N(64<<10))
			if rng.IntN(2) == 0 {
				err = c.w.lib.put(rel, data)
			} else {
				err = c.w.lib.putInPlace(rel, data)
			}
		default:
			err = c.w.lib.remove(files[rng.IntN(len(files))])
		}
		c.mu.RUnlock()
		if err != nil {
			c.add("writer: %v", err)
			return
		}
		c.ops.Add(1)
		// About a thousand operations a second: thousands of events a pass.
		time.Sleep(time.Millisecond)
	}
}

// folders renames and deletes whole folders, large files included, while
// the daemon copies them, and creates them again.
func (c *churn) folders(ctx context.Context, rng *rand.Rand, small []string, big []string) {
	gen := 0
	for ctx.Err() == nil {
		gen++
		c.mu.Lock()
		var err error
		switch op := rng.IntN(4); op {
		case 0, 1: // rename a big folder while its files are copied
			i := rng.IntN(len(big))
			to := fmt.Sprintf("Big %c gen %d", 'A'+i, gen)
			err = c.w.lib.renameDir(big[i], to)
			big[i] = to
		case 2: // delete a big folder, and make it again with new files
			i := rng.IntN(len(big))
			if err = c.w.lib.removeDir(big[i]); err == nil {
				for range 2 {
					if err == nil {
						err = c.w.lib.put(c.name(big[i], rng), content(rng.Uint64(), 8<<20+rng.Int64N(8<<20)))
					}
				}
			}
		case 3: // rename a small folder, and back later
			i := rng.IntN(len(small))
			to := small[i] + " moved"
			if strings.HasSuffix(small[i], " moved") {
				to = strings.TrimSuffix(small[i], " moved")
			}
			err = c.w.lib.renameDir(small[i], to)
			if err == nil {
				small[i] = to
			}
		}
		c.mu.Unlock()
		if err != nil {
			c.add("folders: %v", err)
			return
		}
		c.dir.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(300+rng.IntN(500)) * time.Millisecond):
		}
	}
}

// live checks invariant 1 on the target while the daemon works on it.
func (c *churn) live(ctx context.Context, d *daemon) (checks int, transient int) {
	for ctx.Err() == nil {
		c.mu.RLock()
		v := c.w.inspect(afterKill, true)
		c.mu.RUnlock()
		checks++
		transient += len(v.transient)
		for _, p := range v.problems {
			c.add("live check %d: %s", checks, p)
		}
		if !d.running() {
			c.add("the daemon died during the churn")
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
	return
}

// TestDaemonChurn runs the daemon while a writer creates, overwrites and
// deletes files in 20 folders (about a thousand operations a second, half
// of the writes in place the way cp writes) and whole folders of large
// files are renamed and deleted while they are copied. Every few hundred
// milliseconds the target is checked for invariant 1; at the end the
// daemon must converge on its own and stop cleanly.
func TestDaemonChurn(t *testing.T) {
	rng := seeded(t)
	w := newWorld(t, rng, worldOpts{})
	w.tolerateKnown = true
	var small []string
	for i := range 20 {
		small = append(small, fmt.Sprintf("Set %02d", i))
	}
	big := []string{"Big A", "Big B"}
	w.populate(libSpec{folders: small, small: 160})
	for _, b := range big {
		for range 2 {
			w.putNew(b, 8<<20+w.rng.Int64N(8<<20))
		}
	}
	d := w.startDaemon()
	w.waitConverged(d, "initial mirror")
	w.plantUserFiles()

	c := &churn{w: w}
	dur := churnFor(8*time.Second, 2*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg stdsync.WaitGroup
	var checks, transient int
	wrng := rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64()))
	frng := rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64()))
	wg.Go(func() { c.writer(ctx, wrng, small) })
	wg.Go(func() { c.folders(ctx, frng, small, big) })
	wg.Go(func() { checks, transient = c.live(ctx, d) })
	wg.Wait()
	for _, e := range c.all() {
		t.Errorf("during the churn: %s", e)
	}
	passes := d.count(`msg=pass `)
	w.waitConverged(d, fmt.Sprintf("after %v of churn", dur))
	w.sync("romsyncd sync through the daemon after the churn")
	w.check("after the last pass", mirror)
	d.stop("end of churn")
	t.Logf("churn for %v: %d file operations, %d folder operations, %d daemon passes with changes, %d inotify overflows, %d live checks (%d files seen holding an in-place write's transient empty state)",
		dur, c.ops.Load(), c.dir.Load(), passes, d.count("overflow"), checks, transient)
	if transient > 0 {
		t.Logf("note: the daemon installed transient empty files (a library file caught between O_TRUNC and its write); the next pass replaced them")
	}
}

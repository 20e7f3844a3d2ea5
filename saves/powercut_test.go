package saves

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/powerfs"
)

// TestBackupSurvivesPowerCuts: the backup disk loses power at a random
// instant of a backup (internal/powerfs drops every byte not fsynced). After
// each cut the index reads, every version it lists is whole, no version
// file under its final name is torn, and the next backup completes with
// every save of the card held.
func TestBackupSurvivesPowerCuts(t *testing.T) {
	p := powerfs.Mount(t, t.TempDir(), powerfs.Options{})
	backup := p.Dir()
	c := newCard(t, t.TempDir(), "onion", "c0ffee")
	rng := rand.New(rand.NewPCG(20261129, 1))
	const saves, trials = 24, 20
	name := func(i int) string {
		return fmt.Sprintf("Saves/CurrentProfile/saves/gpSP/Game %02d (USA).srm", i)
	}
	stamp := t0
	cutsMidBackup := 0
	for trial := range trials {
		// A week of play: some saves change.
		stamp = stamp.Add(time.Hour)
		for i := range saves {
			if trial == 0 || rng.IntN(3) == 0 {
				c.write(name(i), strings.Repeat(fmt.Sprintf("%d-%d;", trial, i), 4096+rng.IntN(8192)), stamp)
			}
		}
		p.Writeback() // what earlier runs wrote is on the disk

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Backup(ctx, c.opts(backup))
			done <- err
		}()
		time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
		reverted, err := p.Cut()
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil || len(reverted) > 0 {
			cutsMidBackup++ // the cut landed while the backup wrote
		}

		dir := filepath.Join(backup, "c0ffee")
		if _, err := os.Stat(dir); err == nil {
			checkVersionsWhole(t, dir)
			checkNoTornVersion(t, dir)
		}
		if _, err := Backup(context.Background(), c.opts(backup)); err != nil {
			t.Fatalf("trial %d: backup after the cut (%d files taken back): %v", trial, len(reverted), err)
		}
		checkVersionsWhole(t, dir)
		vs, err := List(backup, "", "")
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]bool{}
		for _, v := range vs {
			b, err := os.ReadFile(filepath.Join(dir, v.File))
			if err != nil {
				t.Fatal(err)
			}
			held[string(b)] = true
		}
		for i := range saves {
			if !held[c.read(name(i))] {
				t.Fatalf("trial %d: the card's %s is not held by the backup after the cut and a rerun", trial, name(i))
			}
		}
	}
	t.Logf("%d power cuts, %d of them while the backup wrote", trials, cutsMidBackup)
	if cutsMidBackup == 0 {
		t.Error("no cut landed during a backup: the trial proves nothing")
	}
}

// checkNoTornVersion: every version file, listed or not, holds the content
// its name's short hash says (a cut never leaves a torn or 0-byte version
// under a final name).
func checkNoTornVersion(t *testing.T, dir string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for _, f := range versionFiles(t, dir) {
		base := filepath.Base(f)
		at := strings.LastIndexByte(base, '@')
		dash := strings.LastIndexByte(base, '-')
		if at < 0 || dash < at {
			continue // index, lock
		}
		short := strings.TrimSuffix(base[dash+1:], filepath.Ext(base))
		h, _, err := hashCardFile(filepath.Join(dir, f), buf)
		if err != nil || !strings.HasPrefix(h.String(), short) {
			t.Errorf("version %s: content hash %s (%v) does not match its name", f, h, err)
		}
	}
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/status"
	romsync "github.com/romsyncd/romsyncd/sync"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness runs a daemon in-process on temp folders.
type harness struct {
	t      *testing.T
	dir    string
	src    string
	dst    string
	cfg    string
	sock   string
	reload chan os.Signal
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, extra string) *harness {
	t.Helper()
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("/tmp", "rsd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	h := &harness{t: t, dir: dir, src: filepath.Join(dir, "lib"), dst: filepath.Join(dir, "card"),
		cfg: filepath.Join(dir, "config.yaml"), sock: filepath.Join(sockDir, "s.sock"),
		reload: make(chan os.Signal, 1), logs: &syncBuffer{}}
	require.NoError(t, os.MkdirAll(h.src, 0o755))
	h.writeConfig(extra)
	return h
}

func (h *harness) writeConfig(extra string) {
	h.t.Helper()
	y := fmt.Sprintf(`state_dir: %s
socket: %s
profiles:
  - name: card
    source: %s
    target: %s
    debounce: 150ms
    max_delay: 2s
    poll_interval: 200ms
%s`, filepath.Join(h.dir, "state"), h.sock, h.src, h.dst, extra)
	require.NoError(h.t, os.WriteFile(h.cfg, []byte(y), 0o644))
}

func (h *harness) start() {
	h.t.Helper()
	cfg, err := config.Load(h.cfg)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		h.done <- Run(ctx, cfg, Options{Logger: log, Reload: h.reload, RetryInterval: 100 * time.Millisecond})
	}()
	h.t.Cleanup(h.stop)
	h.waitFor("control socket", func() bool {
		_, err := status.GetStatus(context.Background(), h.sock)
		return err == nil
	})
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		assert.NoError(h.t, err)
	case <-time.After(20 * time.Second):
		h.t.Fatalf("daemon did not stop within 20 s; logs:\n%s", h.logs.String())
	}
	h.cancel = nil
}

func (h *harness) write(rel, content string) {
	h.t.Helper()
	p := filepath.Join(h.src, filepath.FromSlash(rel))
	require.NoError(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(h.t, os.WriteFile(p, []byte(content), 0o644))
}

// waitFor polls cond until it holds or the deadline passes.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; logs:\n%s", what, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tree reads the target (without .romsyncd).
func tree(root string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".romsyncd" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			data, _ := os.ReadFile(p)
			out[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	return out
}

func (h *harness) mirrored(want map[string]string) func() bool {
	return func() bool {
		got := tree(h.dst)
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}
}

func tempFiles(root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".romsyncd-") && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestDaemonMirrorsLibraryChanges(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/a.gb", "a1")
	h.write("gb/b.gb", "b1")
	h.start()
	want := map[string]string{"gb/a.gb": "a1", "gb/b.gb": "b1"}
	h.waitFor("initial mirror", h.mirrored(want))

	steps := []struct {
		name string
		do   func()
		want func(map[string]string)
	}{
		{"add", func() { h.write("gb/c.gb", "c1") }, func(m map[string]string) { m["gb/c.gb"] = "c1" }},
		{"replace", func() { h.write("gb/a.gb", "a2-new") }, func(m map[string]string) { m["gb/a.gb"] = "a2-new" }},
		{"delete", func() { require.NoError(t, os.Remove(filepath.Join(h.src, "gb/b.gb"))) }, func(m map[string]string) { delete(m, "gb/b.gb") }},
		{"rename", func() {
			require.NoError(t, os.Rename(filepath.Join(h.src, "gb/c.gb"), filepath.Join(h.src, "gb/c (USA).gb")))
		}, func(m map[string]string) { delete(m, "gb/c.gb"); m["gb/c (USA).gb"] = "c1" }},
		{"mkdir -p and write", func() { h.write("psx/Game/disc1/track.bin", "t") }, func(m map[string]string) { m["psx/Game/disc1/track.bin"] = "t" }},
		{"folder moved in", func() {
			outside := filepath.Join(h.dir, "outside", "nes")
			require.NoError(t, os.MkdirAll(filepath.Join(outside, "sub"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(outside, "x.nes"), []byte("x"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(outside, "sub", "y.nes"), []byte("y"), 0o644))
			require.NoError(t, os.Rename(outside, filepath.Join(h.src, "nes")))
		}, func(m map[string]string) { m["nes/x.nes"] = "x"; m["nes/sub/y.nes"] = "y" }},
		{"folder deleted", func() { require.NoError(t, os.RemoveAll(filepath.Join(h.src, "psx"))) }, func(m map[string]string) { delete(m, "psx/Game/disc1/track.bin") }},
	}
	for _, s := range steps {
		s.do()
		s.want(want)
		h.waitFor(s.name, h.mirrored(want))
	}
	assert.Empty(t, tempFiles(h.dst))
}

func TestDaemonInstallsASlowlyWrittenFileOnceComplete(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/seed.gb", "s")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/seed.gb": "s"}))

	p := filepath.Join(h.src, "gb", "big.gb")
	f, err := os.Create(p)
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte("z"), 256<<10)
	final := filepath.Join(h.dst, "gb", "big.gb")
	for range 16 {
		_, err := f.Write(chunk)
		require.NoError(t, err)
		time.Sleep(60 * time.Millisecond)
		// Never a partial file under the final name.
		if info, err := os.Stat(final); err == nil {
			t.Fatalf("big.gb installed while still being written (%d bytes)", info.Size())
		}
	}
	require.NoError(t, f.Close())
	h.waitFor("big file", func() bool {
		info, err := os.Stat(final)
		return err == nil && info.Size() == 16*256<<10
	})
	data, err := os.ReadFile(final)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat(chunk, 16), data)
}

func TestDaemonStatusAndReconcileOverTheSocket(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/a.gb": "a"}))
	ctx := context.Background()
	h.waitFor("in sync", func() bool {
		st, err := status.GetStatus(ctx, h.sock)
		return err == nil && len(st) == 1 && st[0].State == status.StateInSync
	})
	st, err := status.GetStatus(ctx, h.sock)
	require.NoError(t, err)
	assert.Equal(t, "card", st[0].Name)
	assert.Positive(t, st[0].Watches)

	raw, err := status.RequestReconcile(ctx, h.sock, nil)
	require.NoError(t, err)
	require.Len(t, raw, 1)
	var rep romsync.Report
	require.NoError(t, json.Unmarshal(raw[0], &rep))
	assert.True(t, rep.InSync)
	assert.Equal(t, 1, rep.Unchanged)
	assert.Zero(t, rep.HashedBytes)

	_, err = status.RequestReconcile(ctx, h.sock, []string{"nope"})
	assert.ErrorContains(t, err, "nope")
}

func TestRestartAfterCleanRunReadsNothing(t *testing.T) {
	h := newHarness(t, "")
	for i := range 50 {
		h.write(fmt.Sprintf("gb/%02d.gb", i), strings.Repeat("x", i*100))
	}
	h.start()
	h.waitFor("initial mirror", func() bool { return len(tree(h.dst)) == 50 })
	h.stop()

	h.start()
	raw, err := status.RequestReconcile(context.Background(), h.sock, nil)
	require.NoError(t, err)
	var rep romsync.Report
	require.NoError(t, json.Unmarshal(raw[0], &rep))
	assert.Equal(t, 0, rep.Copied)
	assert.Equal(t, 50, rep.Unchanged)
	assert.Zero(t, rep.HashedBytes)
}

func TestReloadAddsProfilesAndKeepsTheOldConfigWhenInvalid(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/a.gb": "a"}))

	// An invalid config is logged; the daemon keeps running the old one.
	require.NoError(t, os.WriteFile(h.cfg, []byte("profiles: [{name: x}]"), 0o644))
	h.reload <- syscall.SIGHUP
	h.waitFor("reload error logged", func() bool { return strings.Contains(h.logs.String(), "reload failed") })
	h.write("gb/b.gb", "b")
	h.waitFor("still mirroring", h.mirrored(map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"}))

	// A second profile.
	src2, dst2 := filepath.Join(h.dir, "lib2"), filepath.Join(h.dir, "card2")
	require.NoError(t, os.MkdirAll(filepath.Join(src2, "nes"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src2, "nes", "n.nes"), []byte("n"), 0o644))
	h.writeConfig(fmt.Sprintf("  - name: second\n    source: %s\n    target: %s\n    debounce: 100ms\n", src2, dst2))
	h.reload <- syscall.SIGHUP
	h.waitFor("second profile", func() bool { return tree(dst2)["nes/n.nes"] == "n" })
	st, err := status.GetStatus(context.Background(), h.sock)
	require.NoError(t, err)
	assert.Len(t, st, 2)
}

func TestCardPulledAndReinserted(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/a.gb": "a"}))

	// The card goes away: its mount point is left empty.
	away := filepath.Join(h.dir, "away")
	require.NoError(t, os.Rename(h.dst, away))
	require.NoError(t, os.MkdirAll(h.dst, 0o755))
	h.write("gb/b.gb", "b")
	h.waitFor("offline", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].State == status.StatePausedOffline
	})
	ents, _ := os.ReadDir(h.dst)
	assert.Empty(t, ents, "nothing written into the empty mount point")

	// It comes back: the change made meanwhile is mirrored, no restart.
	require.NoError(t, os.Remove(h.dst))
	require.NoError(t, os.Rename(away, h.dst))
	h.waitFor("resumed", h.mirrored(map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"}))
}

func TestExFATCardUnmountedAndRemounted(t *testing.T) {
	h := newHarness(t, "")
	card := testfs.ExFAT(t, "64M")
	h.dst = filepath.Join(card, "Roms")
	h.writeConfig("")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/a.gb": "a"}))

	testfs.Unmount(t, card, true)
	h.write("gb/b.gb", "b")
	h.waitFor("offline", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].State == status.StatePausedOffline
	})
	_, err := os.Stat(h.dst)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "the empty mount point is not filled: %v", err)

	testfs.Remount(t, card)
	h.waitFor("resumed", h.mirrored(map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"}))
}

// TestIdleDaemonLeavesTheCardFreeToUnmount: between passes the daemon
// holds no descriptor on the card, so a plain umount (a desktop's Eject)
// succeeds; the daemon notices, pauses, and resumes when the card is back.
func TestIdleDaemonLeavesTheCardFreeToUnmount(t *testing.T) {
	h := newHarness(t, "")
	card := testfs.ExFAT(t, "64M")
	h.dst = filepath.Join(card, "Roms")
	h.writeConfig("")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("initial mirror, in sync", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].State == status.StateInSync && h.mirrored(map[string]string{"gb/a.gb": "a"})()
	})

	testfs.Unmount(t, card, false) // not lazy: fails with EBUSY if anything is open
	h.write("gb/b.gb", "b")
	h.waitFor("offline", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].State == status.StatePausedOffline
	})
	_, err := os.Stat(h.dst)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "the empty mount point is not filled: %v", err)

	testfs.Remount(t, card)
	h.waitFor("resumed", h.mirrored(map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"}))
	h.waitFor("in sync again", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].State == status.StateInSync
	})
	testfs.Unmount(t, card, false)
}

func TestStopDuringALargeCopyLeavesNoTempFile(t *testing.T) {
	h := newHarness(t, "")
	h.write("psx/big.bin", strings.Repeat("b", 256<<20))
	h.start()
	h.waitFor("copy under way", func() bool { return len(tempFiles(h.dst)) > 0 })
	start := time.Now()
	h.stop()
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Empty(t, tempFiles(h.dst))
	_, err := os.Stat(filepath.Join(h.dst, "psx", "big.bin"))
	if err == nil {
		data, _ := os.ReadFile(filepath.Join(h.dst, "psx", "big.bin"))
		assert.Len(t, data, 256<<20, "a file under its final name is complete")
	}
}

func TestOverflowMarksEverythingDirty(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to lower fs.inotify.max_queued_events; CI runs as root")
	}
	const knob = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(knob)
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.WriteFile(knob, old, 0o644) })
	require.NoError(t, os.WriteFile(knob, []byte("16\n"), 0o644))

	h := newHarness(t, "")
	h.write("gb/seed.gb", "s")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/seed.gb": "s"}))
	want := map[string]string{"gb/seed.gb": "s"}
	for i := range 400 {
		rel := fmt.Sprintf("d%02d/f%03d.gb", i%20, i)
		h.write(rel, rel)
		want[rel] = rel
	}
	h.waitFor("everything after overflow", h.mirrored(want))
}

func TestAFileHeldOpenByItsWriterIsInstalledOnceClosed(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/seed.gb", "s")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/seed.gb": "s"}))
	w, err := os.Create(filepath.Join(h.src, "gb", "slow.gb"))
	require.NoError(t, err)
	_, err = w.Write([]byte("part one "))
	require.NoError(t, err)
	// The writer pauses longer than the debounce: the pass sees a file
	// that does not change, but it is still open for writing.
	h.waitFor("busy reported", func() bool {
		return strings.Contains(h.logs.String(), "busy") || strings.Contains(h.logs.String(), "skipped=1")
	})
	_, err = os.Stat(filepath.Join(h.dst, "gb", "slow.gb"))
	assert.True(t, errors.Is(err, fs.ErrNotExist), "not installed while open for writing")
	_, err = w.Write([]byte("part two"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	h.waitFor("installed once closed", h.mirrored(map[string]string{"gb/seed.gb": "s", "gb/slow.gb": "part one part two"}))
}

// TestAConflictIsAStateLoggedOnce: a foreign file in the way of a ROM is
// shown by status as "not in sync" with the conflict listed, logged once
// when it appears (not on every pass) and once when it is settled.
func TestAConflictIsAStateLoggedOnce(t *testing.T) {
	h := newHarness(t, "")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("initial mirror", h.mirrored(map[string]string{"gb/a.gb": "a"}))
	getStatus := func() status.ProfileStatus {
		st, err := status.GetStatus(context.Background(), h.sock)
		require.NoError(t, err)
		return st[0]
	}
	// The user's own file sits where b.gb goes.
	require.NoError(t, os.WriteFile(filepath.Join(h.dst, "gb", "b.gb"), []byte("mine"), 0o644))
	h.write("gb/b.gb", "b")
	h.waitFor("not in sync", func() bool { return getStatus().State == status.StateNotInSync })
	st := getStatus()
	require.Len(t, st.Conflicts, 1)
	assert.Equal(t, "gb/b.gb", st.Conflicts[0].Path)
	assert.Contains(t, st.LastError, "1 conflict(s)")

	// More passes (library changes elsewhere): the conflict is not logged again.
	for i := range 3 {
		h.write(fmt.Sprintf("nes/n%d.nes", i), "n")
		h.waitFor("mirrored", func() bool { return tree(h.dst)[fmt.Sprintf("nes/n%d.nes", i)] == "n" })
	}
	assert.Equal(t, 1, strings.Count(h.logs.String(), `msg=conflict `), h.logs.String())

	// The user moves the file away: settled, logged once, in sync.
	require.NoError(t, os.Remove(filepath.Join(h.dst, "gb", "b.gb")))
	h.write("gb/c.gb", "c") // an event in the folder
	h.waitFor("in sync", func() bool { return getStatus().State == status.StateInSync })
	assert.Empty(t, getStatus().Conflicts)
	assert.Equal(t, 1, strings.Count(h.logs.String(), `msg="conflict settled"`), h.logs.String())
}

// TestDaemonBacksUpSavesAfterEachPass: with saves:, the daemon copies a
// save written on the card off it after the pass, and counts it in status.
func TestDaemonBacksUpSavesAfterEachPass(t *testing.T) {
	h := newHarness(t, "")
	card := filepath.Join(h.dir, "sd")
	h.dst = filepath.Join(card, "Roms")
	backup := filepath.Join(h.dir, "backup")
	require.NoError(t, os.MkdirAll(backup, 0o755))
	h.writeConfig(fmt.Sprintf("    layout: onion\n    saves: {backup: %s}\n", backup))
	h.write("Nintendo - Game Boy/Tetris (World).gb", "t")
	h.start()
	h.waitFor("initial mirror", func() bool { return tree(h.dst)["GB/Tetris (World).gb"] == "t" })

	save := filepath.Join(card, "Saves", "CurrentProfile", "saves", "Gambatte", "Tetris (World).srm")
	require.NoError(t, os.MkdirAll(filepath.Dir(save), 0o755))
	require.NoError(t, os.WriteFile(save, []byte("hiscore"), 0o644))
	h.write("Nintendo - Game Boy/Zelda (USA).gb", "z") // a pass
	h.waitFor("save backed up", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].SavesBackedUp == 1
	})
	var found []string
	_ = filepath.WalkDir(backup, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".srm") {
			found = append(found, p)
		}
		return nil
	})
	require.Len(t, found, 1)
	data, err := os.ReadFile(found[0])
	require.NoError(t, err)
	assert.Equal(t, "hiscore", string(data))
}

// TestReconcileOfAPausedProfileAnswersAtOnce: `romsyncd sync` handed to a
// daemon whose library was missing at start (a NAS down) is answered at
// once with the reason and its kind, not after a wait (it hung before).
func TestReconcileOfAPausedProfileAnswersAtOnce(t *testing.T) {
	h := newHarness(t, "")
	require.NoError(t, os.Remove(h.src))
	h.start()
	h.waitFor("paused", func() bool {
		st, err := status.GetStatus(context.Background(), h.sock)
		return err == nil && st[0].State == status.StatePausedOffline
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, err := status.RequestReconcile(ctx, h.sock, nil)
	require.NoError(t, err)
	require.Len(t, raw, 1)
	var rep struct {
		Error string `json:"error"`
		Kind  string `json:"error_kind"`
	}
	require.NoError(t, json.Unmarshal(raw[0], &rep))
	assert.Equal(t, "source_offline", rep.Kind)
	assert.Contains(t, rep.Error, "source offline")
}

package cards_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/cards"
	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/eject"
	"github.com/romsyncd/romsyncd/internal/testbus"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/mounts"
	"github.com/romsyncd/romsyncd/notify"
	"github.com/romsyncd/romsyncd/profiles"
	romsync "github.com/romsyncd/romsyncd/sync"
)

// TestFlowMountToSafeToRemove wires the pieces the way docs/CARDS.md tells
// the daemon to: a card adopted earlier is mounted after the watcher
// started, is identified by its marker, gets a pass that copies 1,000 new
// library files, is recorded in sync, the desktop is told it is safe to
// remove, and it is ejected (umount: no udisks here). It logs the time from
// the mount to "safe to remove".
func TestFlowMountToSafeToRemove(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	lib := filepath.Join(work, "lib")
	writeFiles(t, filepath.Join(lib, "Nintendo - Game Boy"), "old", 10)
	state := filepath.Join(work, "state")
	// A card is found by its marker anywhere on the machine: a profile name
	// of this test's own (packages' tests run at once).
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	miyoo := "miyoo-" + hex.EncodeToString(rnd[:])
	cfg := &config.Config{File: "config.yaml", StateDir: state, Profiles: []config.Profile{{
		Name: miyoo, Source: lib, Mode: config.ModeMirror, Workers: 2, Verify: true,
		Layout: "onion", Unknown: "keep", ModifyWindow: -1, MaxDelete: config.Limit{Percent: 50, IsPercent: true},
		Cards: &config.Cards{Adopt: []config.AdoptRule{{Label: "MIYOO"}}},
	}}}
	p := &cfg.Profiles[0]

	// The card, adopted once (romsyncd init --card), then pulled.
	mp := testfs.ExFATAt(t, filepath.Join(work, "media", "alice", "MIYOO"), "256M")
	root, _ := cards.TargetOn(mp, p.Layout)
	if _, err := romsync.Init(ctx, options(t, cfg, p, root)); err != nil {
		t.Fatal(err)
	}
	pass(t, options(t, cfg, p, root))
	testfs.Unmount(t, mp, false)

	// The desktop session: a notification server on a private bus.
	addr := testbus.Start(t, testbus.Session)
	shown := testbus.NotificationServer(t, addr)
	n, err := notify.OpenAddress(addr, "romsyncd")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	reg, err := cards.OpenRegistry(state)
	if err != nil {
		t.Fatal(err)
	}

	// The daemon starts with no card; the library gains 1,000 files.
	w, err := mounts.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	events := make(chan mounts.Event, 16)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx, func(e mounts.Event) { events <- e }) }()
	defer func() { stop(); <-done }()
	writeFiles(t, filepath.Join(lib, "Nintendo - Game Boy Advance"), "new", 1000)

	start := time.Now()
	testfs.Remount(t, mp)
	var m mounts.Mount
	for m.MountPoint != mp {
		select {
		case e := <-events:
			if e.Kind == mounts.Mounted && e.Mount.MountPoint == mp {
				m = e.Mount
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no mount event for the card")
		}
	}
	seen := time.Since(start)

	// Identify → pass → durable → registry → notify.
	if !cards.MayBeCard(m) {
		t.Fatalf("MayBeCard(%+v) = false", m)
	}
	found, err := cards.Identify(m)
	if err != nil || len(found) != 1 || found[0].Profile != miyoo {
		t.Fatalf("Identify = %+v, %v", found, err)
	}
	c := found[0]
	if err := reg.Seen(c, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	busy, err := n.Notify(ctx, notify.Syncing(label(m), c.Profile))
	if err != nil {
		t.Fatal(err)
	}
	rep := pass(t, options(t, cfg, p, c.Root))
	if rep.Copied != 1000 {
		t.Fatalf("pass copied %d files, want 1000", rep.Copied)
	}
	if err := reg.InSync(c.ID, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	safe := notify.SafeToRemove(label(m), c.Profile)
	safe.Replaces = busy
	if _, err := n.Notify(ctx, safe); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Syncing MIYOO: do not remove", "MIYOO is in sync"} {
		select {
		case got := <-shown:
			if got.Summary != want {
				t.Errorf("desktop shows %q, want %q", got.Summary, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("desktop did not show %q", want)
		}
	}
	t.Logf("mount → event %v; mount → safe to remove %v (%d files, %s)", seen, time.Since(start), rep.Copied, m.FSType)

	// eject: true.
	if _, err := eject.Eject(ctx, mp); err != nil && !errors.Is(err, eject.ErrNoUdisks) {
		t.Fatal(err)
	}
	for gone := false; !gone; {
		select {
		case e := <-events: // other tests mount too: skip their mounts
			gone = e.Kind == mounts.Unmounted && e.Mount.MountPoint == mp
		case <-time.After(10 * time.Second):
			t.Fatal("no unmount event after eject")
		}
	}
	if err := reg.Gone(c.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := reg.Get(c.ID)
	if rec.LastInSync.IsZero() || rec.MountedAt != "" || rec.Folder != "Roms" {
		t.Errorf("registry record = %+v", rec)
	}
}

// pass runs one full pass, as the daemon's runner does, and fails the
// test unless it leaves the card in sync.
func pass(t *testing.T, o romsync.Options) *romsync.Report {
	t.Helper()
	s, err := romsync.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Pass(context.Background(), romsync.Scope{All: true})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil || !rep.InSync {
		t.Fatalf("pass: %v; in sync %v", err, rep.InSync)
	}
	return rep
}

func options(t *testing.T, cfg *config.Config, p *config.Profile, root string) romsync.Options {
	t.Helper()
	pc := *p
	pc.Target = root
	o, err := profiles.Options(cfg, &pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func label(m mounts.Mount) string {
	if m.Label != "" {
		return m.Label
	}
	return filepath.Base(m.MountPoint)
}

func writeFiles(t *testing.T, dir, prefix string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("%s %04d (World).gb", prefix, i))
		if err := os.WriteFile(name, fmt.Appendf(nil, "%s rom %d\n", prefix, i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

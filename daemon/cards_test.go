package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/internal/testbus"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/status"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/targetfs"
)

// markCard makes the card mounted at mnt a card of profile p (romsyncd
// init on its Roms folder), as `romsyncd init --card` does.
func markCard(t *testing.T, cfgFile, p, mnt string) {
	t.Helper()
	cfg, err := config.Load(cfgFile)
	require.NoError(t, err)
	prof, ok := cfg.Profile(p)
	require.True(t, ok)
	pc := *prof
	pc.Target = filepath.Join(mnt, "Roms")
	opts, err := profiles.Options(cfg, &pc, nil)
	require.NoError(t, err)
	_, err = romsync.Init(context.Background(), opts)
	require.NoError(t, err)
}

func cardStates(t *testing.T, sock string) map[string]status.ProfileStatus {
	t.Helper()
	st, err := status.GetStatus(context.Background(), sock)
	if err != nil {
		return nil
	}
	out := map[string]status.ProfileStatus{}
	for _, s := range st {
		if s.Card != "" {
			out[s.Card] = s
		}
	}
	return out
}

// mounted reports whether something is mounted at exactly dir.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer f.Close()
	ms, err := targetfs.ParseMountinfo(f)
	require.NoError(t, err)
	for _, m := range ms {
		if m.MountPoint == dir {
			return true
		}
	}
	return false
}

// TestDaemonSyncsCardsWhereverTheyAreMounted: a daemon started with no
// card present syncs the cards of a profile with cards: when they are
// mounted later, at paths the config never names, two at once; says each
// is safe to remove; and ejects them when eject: is set.
func TestDaemonSyncsCardsWhereverTheyAreMounted(t *testing.T) {
	h := newHarness(t, "")
	media := filepath.Join(h.dir, "media", "alice")
	h.write("Nintendo - Game Boy/Tetris (World).gb", "tetris")
	h.write("Nintendo - Game Boy Advance/Golden Sun (USA).gba", "golden sun")
	// A card is found by its marker anywhere on the machine: a profile
	// name of this test's own (packages' tests run at once).
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	miyoo := "miyoo-" + hex.EncodeToString(rnd[:])
	y := func(eject bool) string {
		e := ""
		if eject {
			e = "    eject: true\n"
		}
		return "state_dir: " + filepath.Join(h.dir, "state") + "\nsocket: " + h.sock + "\nprofiles:\n" +
			"  - name: " + miyoo + "\n    source: " + h.src + "\n    layout: onion\n    cards: {}\n    debounce: 100ms\n" + e
	}
	require.NoError(t, os.WriteFile(h.cfg, []byte(y(false)), 0o644))

	// Two cards of the profile, marked beforehand, then taken out.
	a := testfs.ExFATAt(t, filepath.Join(media, "MIYOO"), "64M")
	b := testfs.ExFATAt(t, filepath.Join(media, "SPARE"), "64M")
	markCard(t, h.cfg, miyoo, a)
	markCard(t, h.cfg, miyoo, b)
	testfs.Unmount(t, a, false)
	testfs.Unmount(t, b, false)

	// The user's desktop session: a private session bus with a
	// notification server that records what it is shown.
	bus := testbus.Start(t, testbus.Session)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	shown := testbus.NotificationServer(t, bus)

	h.start()
	require.Empty(t, cardStates(t, h.sock), "no card present")

	// Both inserted together: both mirrored, each safe to remove.
	testfs.Remount(t, a)
	testfs.Remount(t, b)
	h.waitFor("both cards in sync, safe to remove", func() bool {
		st := cardStates(t, h.sock)
		return len(st) == 2 && st["MIYOO"].State == status.StateSafeToRemove && st["SPARE"].State == status.StateSafeToRemove
	})
	for _, card := range []string{a, b} {
		got := tree(filepath.Join(card, "Roms"))
		require.Equal(t, "tetris", got["GB/Tetris (World).gb"], card)
		require.Equal(t, "golden sun", got["GBA/Golden Sun (USA).gba"], card)
	}
	require.Contains(t, h.logs.String(), `msg="card in sync, safe to remove"`)
	safe := map[string]bool{}
	for len(safe) < 2 {
		select {
		case n := <-shown:
			if strings.Contains(n.Body, "safe to remove") {
				safe[n.Summary+n.Body] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no \"safe to remove\" desktop notification for both cards: %v", safe)
		}
	}

	// Pulled: the card's runner stops; nothing is written to the empty
	// mount point.
	testfs.Unmount(t, b, false)
	h.waitFor("SPARE gone from status", func() bool { _, ok := cardStates(t, h.sock)["SPARE"]; return !ok })

	// eject: true: once in sync, the card is unmounted.
	require.NoError(t, os.WriteFile(h.cfg, []byte(y(true)), 0o644))
	h.reload <- os.Interrupt // any signal: reload
	h.write("Nintendo - Game Boy/Zelda (USA).gb", "zelda")
	require.True(t, mounted(t, a))
	h.waitFor("MIYOO ejected", func() bool { return !mounted(t, a) })
	testfs.Unmount(t, a, false) // testfs learns it is out
	testfs.Remount(t, a)
	require.Equal(t, "zelda", tree(filepath.Join(a, "Roms"))["GB/Zelda (USA).gb"])
}

// TestDaemonEjectsADesktopCardThroughUdisks: a card the desktop mounted
// with udisks2 (at /media/root/LABEL, a place the config never names) is
// found by its marker, synced, and with eject: true unmounted and its loop
// device deleted through udisks2 once it is safe to remove.
func TestDaemonEjectsADesktopCardThroughUdisks(t *testing.T) {
	testbus.Udisks(t) // a private system bus with udisksd; DBUS_SYSTEM_BUS_ADDRESS set
	card := testbus.DesktopCard(t, 32)
	h := newHarness(t, "")
	h.write("Nintendo - Game Boy/Tetris (World).gb", "tetris")
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	miyoo := "miyoo-" + hex.EncodeToString(rnd[:])
	y := "state_dir: " + filepath.Join(h.dir, "state") + "\nsocket: " + h.sock + "\nprofiles:\n" +
		"  - name: " + miyoo + "\n    source: " + h.src + "\n    layout: onion\n    cards: {}\n    eject: true\n"
	require.NoError(t, os.WriteFile(h.cfg, []byte(y), 0o644))
	markCard(t, h.cfg, miyoo, card.MountPoint)

	h.start()
	h.waitFor("card ejected through udisks", func() bool {
		return strings.Contains(h.logs.String(), `msg="card ejected"`) && !mounted(t, card.MountPoint)
	})
	require.Contains(t, h.logs.String(), "method=udisks", h.logs.String())
	require.Empty(t, testbus.LoopOf(card.Image), "the card's loop device is deleted")
}

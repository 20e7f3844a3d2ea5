package eject

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/testbus"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/targetfs"
)

// skip skips, or fails under ROMSYNCD_REQUIRE_MOUNTS=1 (CI, as root).
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(testfs.RequireEnv) == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func TestEjectThroughUdisks(t *testing.T) {
	testbus.Udisks(t)
	card := testbus.DesktopCard(t, 32)
	mp, loop, image := card.MountPoint, card.Loop, card.Image
	if !strings.HasSuffix(mp, "/"+card.Label) {
		t.Errorf("udisks mounted the card at %s, want /media/USER/%s", mp, card.Label)
	}
	ctx := context.Background()

	// A file open on the card: busy, not forced, still mounted.
	f, err := os.Create(filepath.Join(mp, "open.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Eject(ctx, mp); !errors.Is(err, ErrBusy) {
		f.Close()
		t.Fatalf("Eject of a busy card = %v, want ErrBusy", err)
	}
	f.Close()
	if !isMountPoint(mp) {
		t.Fatalf("a busy card was unmounted")
	}

	start := time.Now()
	res, err := Eject(ctx, mp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ejected through udisks2 in %v", time.Since(start))
	if want := (Result{Method: Udisks, Device: loop, LoopDeleted: true}); res != want {
		t.Errorf("Eject = %+v, want %+v", res, want)
	}
	if m, err := targetfs.MountOf(mp); err == nil && m.MountPoint == mp {
		t.Errorf("%s is still mounted after Eject", mp)
	}
	if l := testbus.LoopOf(image); l != "" {
		t.Errorf("the card image is still attached to %s", l)
	}
	if _, err := os.Stat(mp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("udisks left the mount folder %s (stat: %v)", mp, err)
	}
}

func TestEjectFallsBackToUmount(t *testing.T) {
	if os.Geteuid() != 0 {
		skip(t, "the umount fallback needs root")
	}
	// No system bus: no udisks.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	media := filepath.Join(t.TempDir(), "media", "alice")
	ctx := context.Background()

	card := testfs.ExFATAt(t, filepath.Join(media, "MIYOO"), "64M")
	f, err := os.Create(filepath.Join(card, "open.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Eject(ctx, card); !errors.Is(err, ErrBusy) {
		t.Errorf("Eject of a busy FUSE card = %v, want ErrBusy", err)
	}
	f.Close()
	res, err := Eject(ctx, card)
	if err != nil || res.Method != Umount {
		t.Fatalf("Eject = %+v, %v; want an umount", res, err)
	}
	if isMountPoint(card) {
		t.Errorf("%s is still mounted", card)
	}
	if _, err := Eject(ctx, card); !errors.Is(err, ErrNotMounted) {
		t.Errorf("Eject of an empty folder = %v, want ErrNotMounted", err)
	}
}

// TestEjectUnmanagedMount: udisks runs but does not manage a tmpfs; root
// unmounts it itself.
func TestEjectUnmanagedMount(t *testing.T) {
	testbus.Udisks(t)
	dir := testfs.TmpfsAt(t, filepath.Join(t.TempDir(), "media", "alice", "SD"), "4m")
	res, err := Eject(context.Background(), dir)
	if err != nil || res.Method != Umount {
		t.Fatalf("Eject of a tmpfs = %+v, %v; want an umount", res, err)
	}
	if isMountPoint(dir) {
		t.Errorf("%s is still mounted", dir)
	}
}

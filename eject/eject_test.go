package eject

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/romsyncd/romsyncd/internal/testbus"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/targetfs"
)

const (
	udisksd = "/usr/libexec/udisks2/udisksd"
	udevd   = "/lib/systemd/systemd-udevd"
	// udevControl is udevd's control socket: it exists while udevd runs.
	udevControl = "/run/udev/control"
	// settle bounds the wait for a daemon to come up.
	settle = 10 * time.Second
)

// skip skips, or fails under ROMSYNCD_REQUIRE_MOUNTS=1 (CI, as root).
func skip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(testfs.RequireEnv) == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// startUdisks runs udisks2 the way a desktop machine does, privately: a
// system bus of the test's own (DBUS_SYSTEM_BUS_ADDRESS points at it for the
// test), systemd-udevd when none runs (udisks sees no block device without
// it) and udisksd. Every process started is stopped in t.Cleanup.
func startUdisks(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "udisks2 tests need root (udisksd, loop devices)")
	}
	for _, tool := range []string{udisksd, udevd} {
		if _, err := os.Stat(tool); err != nil {
			skip(t, "%s is missing (apt-get install udisks2 udev)", tool)
		}
	}
	for _, tool := range []string{"udisksctl", "mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "%s is missing (apt-get install udisks2 e2fsprogs util-linux)", tool)
		}
	}
	addr := testbus.Start(t, testbus.System)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	if !udevRunning() {
		daemon(t, udevd)
		waitFor(t, "udevd's control socket", udevRunning)
	}
	daemon(t, udisksd)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, "udisksd on the bus", func() bool {
		var has bool
		err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, udisksService).Store(&has)
		return err == nil && has
	})
	return addr
}

// udevRunning reports whether a udevd answers on its control socket (a
// killed one leaves the socket file behind).
func udevRunning() bool {
	c, err := net.Dial("unixpacket", udevControl)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// daemon starts a long-running process with its output in a log file and
// stops it when the test ends.
func daemon(t *testing.T, path string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		skip(t, "start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
}

// waitFor polls cond until it holds: a daemon coming up has no event to
// wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for !cond() {
		if time.Now().After(deadline) {
			skip(t, "%s did not come up within %v", what, settle)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udisksctl runs udisksctl on the test's bus and returns its output.
func udisksctl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "udisksctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("udisksctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// desktopCard makes an ext4 card image labelled with a name of its own,
// attaches it with udisks and mounts it the way a desktop does
// (/media/root/LABEL). It returns the mount point, the loop device and the
// image; t.Cleanup unmounts and detaches whatever is left.
func desktopCard(t *testing.T) (mp, loop, image string) {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	label := "RSD" + strings.ToUpper(hex.EncodeToString(b[:]))
	image = filepath.Join(t.TempDir(), "card.img")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(image, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-L", label, image).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if mp != "" && isMountPoint(mp) {
			exec.Command("umount", mp).Run()
		}
		if l := loopOf(image); l != "" {
			exec.Command("losetup", "-d", l).Run()
		}
	})
	out := udisksctl(t, "loop-setup", "--no-user-interaction", "-f", image)
	loop = regexp.MustCompile(`/dev/loop[0-9]+`).FindString(out)
	if loop == "" {
		t.Fatalf("udisksctl loop-setup: no loop device in %q", out)
	}
	out = udisksctl(t, "mount", "--no-user-interaction", "-b", loop)
	m := regexp.MustCompile(` at (/.*?)\.?\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("udisksctl mount: no mount point in %q", out)
	}
	mp = m[1]
	if !strings.HasSuffix(mp, "/"+label) {
		t.Errorf("udisks mounted the card at %s, want /media/USER/%s", mp, label)
	}
	return mp, loop, image
}

// loopOf returns the loop device backed by image, or "".
func loopOf(image string) string {
	out, _ := exec.Command("losetup", "-j", image).Output()
	dev, _, _ := strings.Cut(string(out), ":")
	return strings.TrimSpace(dev)
}

func TestEjectThroughUdisks(t *testing.T) {
	startUdisks(t)
	mp, loop, image := desktopCard(t)
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

	res, err := Eject(ctx, mp)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Method: Udisks, Device: loop, LoopDeleted: true}); res != want {
		t.Errorf("Eject = %+v, want %+v", res, want)
	}
	if m, err := targetfs.MountOf(mp); err == nil && m.MountPoint == mp {
		t.Errorf("%s is still mounted after Eject", mp)
	}
	if l := loopOf(image); l != "" {
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
	startUdisks(t)
	dir := testfs.TmpfsAt(t, filepath.Join(t.TempDir(), "media", "alice", "SD"), "4m")
	res, err := Eject(context.Background(), dir)
	if err != nil || res.Method != Umount {
		t.Fatalf("Eject of a tmpfs = %+v, %v; want an umount", res, err)
	}
	if isMountPoint(dir) {
		t.Errorf("%s is still mounted", dir)
	}
}

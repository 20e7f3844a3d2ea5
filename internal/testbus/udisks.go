package testbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

const (
	udisksd       = "/usr/libexec/udisks2/udisksd"
	udevd         = "/lib/systemd/systemd-udevd"
	udisksService = "org.freedesktop.UDisks2"
	// udevControl is udevd's control socket; a killed udevd leaves the
	// file behind, so only an answer means one runs.
	udevControl = "/run/udev/control"
	// settle bounds the wait for a daemon to come up.
	settle = 10 * time.Second
)

// Udisks runs udisks2 the way a desktop machine does, privately: a system
// bus of the test's own (the test's DBUS_SYSTEM_BUS_ADDRESS points at it),
// systemd-udevd when none runs (udisks sees no block device without it)
// and udisksd. It needs root and the Debian packages dbus-daemon, udisks2,
// udev, e2fsprogs and util-linux; it skips without them (fails under
// ROMSYNCD_REQUIRE_MOUNTS=1). Every process it starts is stopped in
// t.Cleanup. It returns the bus address.
func Udisks(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "testbus: udisks2 needs root (udisksd, loop devices)")
	}
	for _, tool := range []string{udisksd, udevd} {
		if _, err := os.Stat(tool); err != nil {
			skip(t, "testbus: %s is missing (apt-get install udisks2 udev)", tool)
		}
	}
	for _, tool := range []string{"udisksctl", "mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(t, "testbus: %s is missing (apt-get install udisks2 e2fsprogs util-linux)", tool)
		}
	}
	lockUdev(t)
	addr := Start(t, System)
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

// lockUdev serializes the tests that use udev and udisks, across test
// binaries (go test runs packages in parallel): there is one udevd per
// machine, and a test that stops the udevd it started must not pull it
// from under another.
func lockUdev(t *testing.T) {
	t.Helper()
	p := filepath.Join(os.TempDir(), "romsyncd-test-udisks.lock")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatalf("testbus: %s: %v", p, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		t.Fatalf("testbus: lock %s: %v", p, err)
	}
	t.Cleanup(func() { unix.Close(fd) }) // after the daemons' cleanups: registered first
}

func udevRunning() bool {
	c, err := net.Dial("unixpacket", udevControl)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// daemon starts a long-running process, its output in a log file, and
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
		skip(t, "testbus: start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
}

// waitFor polls cond until it holds: a daemon coming up sends no event to
// wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for !cond() {
		if time.Now().After(deadline) {
			skip(t, "testbus: %s did not come up within %v", what, settle)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Udisksctl runs udisksctl on the test's bus and returns its output.
func Udisksctl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "udisksctl", append([]string{args[0], "--no-user-interaction"}, args[1:]...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("testbus: udisksctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Card is an ext4 card image udisks attached and mounted.
type Card struct {
	Label      string // a name of its own per card: RSD + 6 hex digits
	Image      string
	Loop       string // /dev/loopN
	MountPoint string // /media/root/LABEL, as udisks chose it
}

// DesktopCard makes an ext4 card image of sizeMiB MiB labelled with a name
// of its own, attaches it with `udisksctl loop-setup` and mounts it with
// `udisksctl mount`, as a desktop does (at /media/root/LABEL; this kernel
// has no exFAT or vfat driver for udisks to use). Udisks must run. t.Cleanup
// unmounts and detaches whatever is left.
func DesktopCard(t *testing.T, sizeMiB int) *Card {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	c := &Card{Label: "RSD" + strings.ToUpper(hex.EncodeToString(b[:]))}
	c.Image = filepath.Join(t.TempDir(), "card.img")
	if err := os.WriteFile(c.Image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(c.Image, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-L", c.Label, c.Image).CombinedOutput(); err != nil {
		t.Fatalf("testbus: mkfs.ext4: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if c.MountPoint != "" {
			exec.Command("umount", c.MountPoint).Run() // fails harmlessly once ejected
		}
		if l := LoopOf(c.Image); l != "" {
			exec.Command("losetup", "-d", l).Run()
		}
	})
	out := Udisksctl(t, "loop-setup", "-f", c.Image)
	c.Loop = regexp.MustCompile(`/dev/loop[0-9]+`).FindString(out)
	if c.Loop == "" {
		t.Fatalf("testbus: udisksctl loop-setup: no loop device in %q", out)
	}
	out = Udisksctl(t, "mount", "-b", c.Loop)
	m := regexp.MustCompile(` at (/.*?)\.?\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("testbus: udisksctl mount: no mount point in %q", out)
	}
	c.MountPoint = m[1]
	return c
}

// LoopOf returns the loop device backed by image, or "".
func LoopOf(image string) string {
	out, _ := exec.Command("losetup", "-j", image).Output()
	dev, _, _ := strings.Cut(string(out), ":")
	return strings.TrimSpace(dev)
}

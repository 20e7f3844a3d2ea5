package mounts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/testbus"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/targetfs"
)

// eventTimeout bounds the wait for one event; events come within
// milliseconds of the mount.
const eventTimeout = 10 * time.Second

// watch opens a Watcher and runs it until the test ends; the events arrive
// on the returned channel.
func watch(t *testing.T) (*Watcher, <-chan Event) {
	t.Helper()
	w, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(e Event) { ch <- e }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(eventTimeout):
			t.Errorf("Run did not return after cancel")
		}
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return w, ch
}

// waitEvent returns the next event of kind at mount point dir, skipping
// those of other mounts (other tests and processes mount too).
func waitEvent(t *testing.T, ch <-chan Event, kind Kind, dir string) Event {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case e := <-ch:
			if e.Mount.MountPoint != dir {
				continue
			}
			if e.Kind != kind {
				t.Fatalf("event %v at %s, want %v", e.Kind, dir, kind)
			}
			return e
		case <-deadline:
			t.Fatalf("no %v event at %s within %v", kind, dir, eventTimeout)
		}
	}
}

func TestWatchReportsMountsAndUnmounts(t *testing.T) {
	media := filepath.Join(t.TempDir(), "media", "alice")
	w, ch := watch(t)

	// A card with a FUSE exFAT filesystem on a loop device, as a desktop
	// mounts it.
	card := testfs.ExFATAt(t, filepath.Join(media, "MIYOO"), "64M")
	got := waitEvent(t, ch, Mounted, card)
	if got.Mount.FSType != "fuseblk" || !strings.HasPrefix(got.Mount.Source, "/dev/loop") {
		t.Errorf("exFAT card mount = %+v, want fuseblk on a loop device", got.Mount.MountInfo)
	}
	if _, err := exec.LookPath("blkid"); err == nil && got.Mount.UUID == "" {
		t.Errorf("exFAT card mount has no UUID (blkid is installed): %+v", got.Mount)
	}
	if !listed(w.Mounts(), card) {
		t.Errorf("Mounts() after the event does not list %s", card)
	}
	uuid, firstID := got.Mount.UUID, got.Mount.ID

	testfs.Unmount(t, card, false)
	gone := waitEvent(t, ch, Unmounted, card)
	if gone.Mount.ID != firstID || gone.Mount.UUID != uuid {
		t.Errorf("unmounted %+v, want the mount reported before (id %d, uuid %q)", gone.Mount, firstID, uuid)
	}

	// The same card again: a new mount, the same filesystem.
	testfs.Remount(t, card)
	again := waitEvent(t, ch, Mounted, card)
	if again.Mount.UUID != uuid {
		t.Errorf("remounted card UUID = %q, want %q", again.Mount.UUID, uuid)
	}

	// A tmpfs, pulled, and another one at a new mount point.
	sd := testfs.TmpfsAt(t, filepath.Join(media, "SD CARD"), "8m")
	if e := waitEvent(t, ch, Mounted, sd); e.Mount.FSType != "tmpfs" {
		t.Errorf("tmpfs mount = %+v", e.Mount.MountInfo)
	}
	testfs.Unmount(t, sd, false)
	waitEvent(t, ch, Unmounted, sd)
	sd1 := testfs.TmpfsAt(t, filepath.Join(media, "SD CARD1"), "8m")
	waitEvent(t, ch, Mounted, sd1)
	if listed(w.Mounts(), sd) {
		t.Errorf("Mounts() still lists %s after its unmount", sd)
	}
}

func TestListSeesCurrentMounts(t *testing.T) {
	dir := testfs.TmpfsAt(t, filepath.Join(t.TempDir(), "media", "bob", "CARD"), "8m")
	ms, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if !listed(ms, dir) {
		t.Errorf("List() does not hold %s", dir)
	}
	if !listed(ms, "/") {
		t.Errorf("List() does not hold /")
	}
}

func TestRunReturnsOnCancel(t *testing.T) {
	w, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx, func(Event) {}); err != nil {
		t.Fatalf("Run with a cancelled context = %v", err)
	}
}

func listed(ms []Mount, dir string) bool {
	for _, m := range ms {
		if m.MountPoint == dir {
			return true
		}
	}
	return false
}

func TestDiff(t *testing.T) {
	m := func(id int, point string, minor int) Mount {
		return Mount{MountInfo: targetfs.MountInfo{MountPoint: point, Source: "/dev/loop0", Minor: minor}, ID: id}
	}
	a, b, c := m(1, "/", 1), m(2, "/media/a", 2), m(3, "/media/b", 3)
	moved := m(2, "/media/a1", 2) // mount --move keeps the ID
	reused := m(2, "/media/c", 9) // the kernel reused ID 2
	tests := []struct {
		name       string
		old, now   []Mount
		gone, adds []Mount
	}{
		{"same", []Mount{a, b}, []Mount{a, b}, nil, nil},
		{"mounted", []Mount{a}, []Mount{a, b, c}, nil, []Mount{b, c}},
		{"unmounted", []Mount{a, b, c}, []Mount{a, c}, []Mount{b}, nil},
		{"moved", []Mount{a, b}, []Mount{a, moved}, []Mount{b}, []Mount{moved}},
		{"id reused", []Mount{a, b}, []Mount{a, reused}, []Mount{b}, []Mount{reused}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone, adds := diff(tt.old, tt.now)
			if !sameMounts(gone, tt.gone) || !sameMounts(adds, tt.adds) {
				t.Errorf("diff = gone %v, added %v; want %v, %v", gone, adds, tt.gone, tt.adds)
			}
		})
	}
}

func sameMounts(a, b []Mount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSystemIDsFromDiskLinks(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "sdb1")
	other := filepath.Join(root, "sdc1")
	for _, p := range []string{dev, other} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(root, "disk")
	links := map[string]string{
		"by-uuid/1234-ABCD":   dev,
		"by-uuid/5678-0000":   other,
		`by-label/MY\x20CARD`: dev,
		"by-label/OTHER":      other,
	}
	for l, target := range links {
		p := filepath.Join(disk, l)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	// The device as the mount table names it: through a symlink.
	alias := filepath.Join(root, "alias")
	if err := os.Symlink(dev, alias); err != nil {
		t.Fatal(err)
	}
	ids := systemIDs{diskDir: disk}
	for _, tt := range []struct{ source, uuid, label string }{
		{alias, "", ""}, // not under /dev: not a block device
		{"tmpfs", "", ""},
	} {
		if u, l := ids.identify(tt.source); u != tt.uuid || l != tt.label {
			t.Errorf("identify(%q) = %q, %q; want %q, %q", tt.source, u, l, tt.uuid, tt.label)
		}
	}
	if u, l := linkTo(filepath.Join(disk, "by-uuid"), dev), linkTo(filepath.Join(disk, "by-label"), dev); u != "1234-ABCD" || l != "MY CARD" {
		t.Errorf("links of %s = %q, %q; want 1234-ABCD, MY CARD", dev, u, l)
	}
	if got := linkTo(filepath.Join(disk, "by-label"), filepath.Join(root, "none")); got != "" {
		t.Errorf("link to a device without one = %q", got)
	}
}

func TestParseBlkid(t *testing.T) {
	tests := []struct{ out, uuid, label string }{
		{"DEVNAME=/dev/loop3\nLABEL=MIYOO\nUUID=1A2B-3C4D\nTYPE=exfat\n", "1A2B-3C4D", "MIYOO"},
		{"DEVNAME=/dev/sdb1\nLABEL=SD\\ CARD\\ 2\nUUID=abcd\nTYPE=vfat\n", "abcd", "SD CARD 2"},
		{"DEVNAME=/dev/sdb1\nUUID=0f3c\nTYPE=ext4\n", "0f3c", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if u, l := parseBlkid(tt.out); u != tt.uuid || l != tt.label {
			t.Errorf("parseBlkid(%q) = %q, %q; want %q, %q", tt.out, u, l, tt.uuid, tt.label)
		}
	}
}

func TestParseMountinfoExport(t *testing.T) {
	const table = "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
		"97 22 7:3 / /media/alice/SD\\040CARD rw,nosuid - fuseblk /dev/loop3 rw,user_id=0\n"
	ms, err := targetfs.ParseMountinfo(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[1].ID != 97 || ms[1].MountPoint != "/media/alice/SD CARD" || ms[1].Major != 7 || ms[1].Minor != 3 {
		t.Errorf("ParseMountinfo = %+v", ms)
	}
}

// TestWatchSeesADesktopMount: a card udisks mounts at /media/USER/LABEL, as
// a desktop does when a card is inserted, is reported with its label and
// UUID (udev's /dev/disk links), and its unmount too.
func TestWatchSeesADesktopMount(t *testing.T) {
	testbus.Udisks(t)
	_, ch := watch(t)
	card := testbus.DesktopCard(t, 32)
	e := waitEvent(t, ch, Mounted, card.MountPoint)
	if e.Mount.Label != card.Label || e.Mount.UUID == "" || e.Mount.FSType != "ext4" || e.Mount.Source != card.Loop {
		t.Errorf("desktop mount = %+v, want ext4 on %s labelled %s with a UUID", e.Mount, card.Loop, card.Label)
	}
	testbus.Udisksctl(t, "unmount", "-b", card.Loop)
	if gone := waitEvent(t, ch, Unmounted, card.MountPoint); gone.Mount.Label != card.Label {
		t.Errorf("unmounted %+v, want the card labelled %s", gone.Mount, card.Label)
	}
}

// TestWatchCardMovesToAnotherMountPoint: an exFAT card pulled and inserted
// again is mounted elsewhere (/media/alice/MIYOO1 when another card took
// MIYOO): Unmounted at the old point, Mounted at the new one, same UUID.
func TestWatchCardMovesToAnotherMountPoint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, FUSE mounts)")
	}
	for _, tool := range []string{"mkfs.exfat", "mount.exfat-fuse", "losetup", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(testfs.RequireEnv) == "1" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
	work := t.TempDir()
	image := filepath.Join(work, "card.img")
	run(t, "truncate", "-s", "64M", image)
	run(t, "mkfs.exfat", "-L", "MIYOO", image)
	loop := strings.TrimSpace(run(t, "losetup", "-f", "--show", image))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	media := filepath.Join(work, "media", "alice")
	first, second := filepath.Join(media, "MIYOO"), filepath.Join(media, "MIYOO1")
	for _, d := range []string{first, second} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { exec.Command("umount", d).Run() }) // after a failure only
	}

	_, ch := watch(t)
	run(t, "mount.exfat-fuse", loop, first)
	a := waitEvent(t, ch, Mounted, first)
	if a.Mount.Label != "MIYOO" || a.Mount.UUID == "" || a.Mount.Source != loop {
		t.Errorf("card at %s = %+v, want label MIYOO, a UUID, source %s", first, a.Mount, loop)
	}
	run(t, "umount", first)
	waitEvent(t, ch, Unmounted, first)
	run(t, "mount.exfat-fuse", loop, second)
	b := waitEvent(t, ch, Mounted, second)
	if b.Mount.UUID != a.Mount.UUID || b.Mount.Label != "MIYOO" {
		t.Errorf("card at %s = %+v, want the same card (UUID %s)", second, b.Mount, a.Mount.UUID)
	}
	run(t, "umount", second)
	waitEvent(t, ch, Unmounted, second)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

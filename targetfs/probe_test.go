package targetfs

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"golang.org/x/sys/unix"
)

// scratchDir creates the .romsyncd folder in dir, as romsyncd has it.
func scratchDir(t *testing.T, dir string) string {
	t.Helper()
	s := filepath.Join(dir, ".romsyncd")
	if err := os.Mkdir(s, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkEmpty fails when dir holds anything: probe files must be removed.
func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in %s: %s", dir, e.Name())
	}
}

func probeOK(t *testing.T, dir, scratch string) Info {
	t.Helper()
	info, err := Probe(context.Background(), dir, scratch)
	if err != nil {
		t.Fatalf("Probe(%s): %v", dir, err)
	}
	checkEmpty(t, scratch)
	t.Logf("%s: %s", dir, info)
	return info
}

const (
	anyMaxFile   = -1
	ext4MaxFile  = (1<<32 - 1) * 4096 // 16 TiB − 4 KiB with 4 KiB blocks
	fat32MaxSize = 1<<32 - 1
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name   string
		mount  func(t *testing.T) string
		want   Info // Free, Total, MountPoint and Device are checked apart
		device string
	}{
		{
			name:  "tmpfs",
			mount: func(t *testing.T) string { return testfs.Tmpfs(t, "16m") },
			want: Info{FSType: "tmpfs", Driver: "tmpfs", Unicode: true, MtimeGranularity: time.Nanosecond,
				MaxFileSize: math.MaxInt64, MaxNameBytes: 255},
			device: "tmpfs",
		},
		{
			name:  "exFAT",
			mount: func(t *testing.T) string { return testfs.ExFAT(t, "64M") },
			want: Info{FSType: "exfat", Driver: "fuseblk", FUSE: true, CaseInsensitive: true,
				Rejects: `"*:<>?\|`, FATNames: true, Unicode: true, MtimeGranularity: time.Second,
				MaxFileSize: math.MaxInt64, MaxNameBytes: 255},
			device: "/dev/loop",
		},
		{
			name:  "FAT32",
			mount: func(t *testing.T) string { return testfs.FAT32(t, "64M") },
			want: Info{FSType: "vfat", Driver: "fuse.fusefat", FUSE: true, CaseInsensitive: true,
				Rejects: `"*:<>?\|`, FATNames: true, MtimeGranularity: 2 * time.Second,
				MaxFileSize: fat32MaxSize, MaxNameBytes: 255},
			device: "fusefat",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.mount(t)
			info := probeOK(t, dir, scratchDir(t, dir))
			checkInfo(t, info, tt.want)
			if info.MountPoint != dir {
				t.Errorf("MountPoint = %q, want %q", info.MountPoint, dir)
			}
			if !strings.HasPrefix(info.Device, tt.device) {
				t.Errorf("Device = %q, want prefix %q", info.Device, tt.device)
			}
			if info.Total < 8<<20 || info.Free == 0 || info.Free > info.Total {
				t.Errorf("Free, Total = %d, %d; want 0 < Free <= Total, Total >= 8 MiB", info.Free, info.Total)
			}
		})
	}
}

// TestProbeTempDir probes the filesystem of t.TempDir(): ext4 here and on CI,
// whatever it is elsewhere (tmpfs, overlay), it is a case-sensitive Linux one.
func TestProbeTempDir(t *testing.T) {
	dir := t.TempDir()
	m, err := MountOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{FSType: m.FSType, Driver: m.FSType, Unicode: true, MtimeGranularity: time.Nanosecond,
		MaxFileSize: anyMaxFile, MaxNameBytes: 255}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if m.FSType == "ext4" && sfs.Bsize == 4096 {
		want.MaxFileSize = ext4MaxFile
	}
	info := probeOK(t, dir, scratchDir(t, dir))
	checkInfo(t, info, want)
	if info.MountPoint != m.MountPoint {
		t.Errorf("MountPoint = %q, want %q", info.MountPoint, m.MountPoint)
	}
}

func checkInfo(t *testing.T, got, want Info) {
	t.Helper()
	if want.MaxFileSize == anyMaxFile {
		want.MaxFileSize = got.MaxFileSize
	}
	got.Free, got.Total, got.MountPoint, got.Device = 0, 0, "", ""
	if got != want {
		t.Errorf("Probe =\n\t%+v\nwant\n\t%+v", got, want)
	}
}

func TestProbeCache(t *testing.T) {
	t.Run("same mount", func(t *testing.T) {
		dir := testfs.Tmpfs(t, "16m")
		scratch := scratchDir(t, dir)
		before := probes.Load()
		first := probeOK(t, dir, scratch)
		if err := os.WriteFile(filepath.Join(dir, "rom.bin"), make([]byte, 4<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		second := probeOK(t, dir, scratch)
		if n := probes.Load() - before; n != 1 {
			t.Errorf("two Probes of one mount ran %d probes, want 1", n)
		}
		if second.Free > first.Free-4<<20 {
			t.Errorf("Free after writing 4 MiB = %d, was %d: not re-read", second.Free, first.Free)
		}
		first.Free, second.Free = 0, 0
		if first != second {
			t.Errorf("cached Info differs:\n\t%+v\n\t%+v", first, second)
		}
	})
	t.Run("remount", func(t *testing.T) {
		// The loop device, source and mount point all stay the same on a
		// remount: only the mount ID tells the mounts apart.
		dir := testfs.ExFAT(t, "64M")
		scratch := scratchDir(t, dir)
		before := probes.Load()
		probeOK(t, dir, scratch)
		testfs.Unmount(t, dir, false)
		testfs.Remount(t, dir)
		probeOK(t, dir, scratch)
		if n := probes.Load() - before; n != 2 {
			t.Errorf("Probe, remount, Probe ran %d probes, want 2", n)
		}
	})
}

func TestProbeErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		dir     string
		scratch func(t *testing.T) string
		want    error
	}{
		{"missing dir", context.Background(), filepath.Join(dir, "nope"), func(*testing.T) string { return dir }, os.ErrNotExist},
		{"dir is a file", context.Background(), file, func(*testing.T) string { return dir }, unix.ENOTDIR},
		{"missing scratch", context.Background(), dir, func(*testing.T) string { return filepath.Join(dir, "nope") }, os.ErrNotExist},
		{"scratch is a file", context.Background(), dir, func(*testing.T) string { return file }, unix.ENOTDIR},
		{"cancelled", cancelled, dir, func(*testing.T) string { return dir }, context.Canceled},
		{"scratch on another fs", context.Background(), dir, func(t *testing.T) string { return testfs.Tmpfs(t, "1m") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Probe(tt.ctx, tt.dir, tt.scratch(t))
			if err == nil {
				t.Fatal("Probe succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Probe error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name %s", err, tt.dir)
			}
		})
	}
}

func TestFree(t *testing.T) {
	dir := testfs.Tmpfs(t, "8m")
	free, err := Free(dir)
	if err != nil {
		t.Fatal(err)
	}
	if free == 0 || free > 8<<20 {
		t.Errorf("Free of an empty 8 MiB tmpfs = %d", free)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	after, err := Free(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after > free-2<<20 {
		t.Errorf("Free after writing 2 MiB = %d, was %d", after, free)
	}

	// proc reports no size at all, like fusefat with 512-byte clusters.
	if _, err := Free("/proc"); !errors.Is(err, ErrSpaceUnknown) {
		t.Errorf("Free(/proc) error %v, want ErrSpaceUnknown", err)
	}
	if _, err := Free(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Free of a missing dir: %v, want not exist", err)
	}
}

func TestGranularity(t *testing.T) {
	set := probeTime
	tests := []struct {
		name string
		got  time.Time
		want time.Duration
		ok   bool
	}{
		{"exact", set, time.Nanosecond, true},
		{"100 ns (NTFS)", set.Truncate(100 * time.Nanosecond), 100 * time.Nanosecond, true},
		{"1 µs", set.Truncate(time.Microsecond), time.Microsecond, true},
		{"10 ms (kernel exfat)", set.Truncate(10 * time.Millisecond), 10 * time.Millisecond, true},
		{"1 s (exfat-fuse)", set.Truncate(time.Second), time.Second, true},
		{"2 s (FAT32, odd second rounded down)", set.Truncate(time.Second).Add(-time.Second), 2 * time.Second, true},
		{"1 s rounded up", set.Truncate(time.Second).Add(time.Second), time.Second, true},
		{"1 s, one hour off (time zone)", set.Truncate(time.Second).Add(time.Hour), time.Second, true},
		{"2 s, 5:30 h off", set.Truncate(time.Second).Add(-time.Second - 330*time.Minute), 2 * time.Second, true},
		{"garbage", set.Add(7 * time.Minute), 0, false},
	}
	for _, tt := range tests {
		got, ok := granularity(set, tt.got)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: granularity = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBootSectorType(t *testing.T) {
	sector := func(off int, label string) []byte {
		b := make([]byte, 512)
		copy(b[off:], label)
		b[510], b[511] = 0x55, 0xaa
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"exfat", sector(3, "EXFAT   "), "exfat"},
		{"ntfs", sector(3, "NTFS    "), "ntfs"},
		{"fat32", sector(82, "FAT32   "), "vfat"},
		{"fat16", sector(54, "FAT16   "), "vfat"},
		{"fat12", sector(54, "FAT12   "), "vfat"},
		{"zeros", make([]byte, 512), ""},
		{"short", []byte("EXFAT"), ""},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := bootSectorType(path); got != tt.want {
			t.Errorf("%s: bootSectorType = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := bootSectorType(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing device: %q, want empty", got)
	}
	if got := bootSectorType("fusefat"); got != "" {
		t.Errorf("non-path source: %q, want empty", got)
	}
}

func TestFSType(t *testing.T) {
	tests := []struct{ driver, source, want string }{
		{"ext4", "/dev/sda1", "ext4"},
		{"fuse.fusefat", "fusefat", "vfat"},
		{"fuseblk", "not-a-device", "fuseblk"},
		{"ntfs3", "/dev/sdb1", "ntfs"},
		{"nfs4", "nas:/roms", "nfs"},
		{"fuse.sshfs", "pi@host:/roms", "fuse.sshfs"},
	}
	for _, tt := range tests {
		if got := fsType(context.Background(), tt.driver, tt.source); got != tt.want {
			t.Errorf("fsType(%q, %q) = %q, want %q", tt.driver, tt.source, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{
			Info{FSType: "exfat", Driver: "fuseblk", CaseInsensitive: true, Rejects: `"*:<>?\|`, Unicode: true,
				MtimeGranularity: time.Second, MaxFileSize: math.MaxInt64, Free: 58 << 30, Total: 64 << 30},
			`exfat (fuseblk), case-insensitive, rejects "*:<>?\|, mtime 1 s, max file 8.0 EiB, free 58.0 GiB`,
		},
		{
			Info{FSType: "vfat", Driver: "fuse.fusefat", CaseInsensitive: true,
				MtimeGranularity: 2 * time.Second, MaxFileSize: fat32MaxSize, Free: 3<<30 + 512<<20, Total: 4 << 30},
			`vfat (fuse.fusefat), case-insensitive, ASCII names only, mtime 2 s, max file 4.0 GiB, free 3.5 GiB`,
		},
		{
			Info{FSType: "ext4", Driver: "ext4", Unicode: true, MtimeGranularity: time.Nanosecond,
				MaxFileSize: ext4MaxFile, Free: 1023, Total: 1 << 40},
			`ext4, case-sensitive, mtime 1 ns, max file 16.0 TiB, free 1023 B`,
		},
		{
			Info{FSType: "exfat", Driver: "exfat", CaseInsensitive: true, Unicode: true,
				MtimeGranularity: 10 * time.Millisecond, MaxFileSize: math.MaxInt64},
			`exfat, case-insensitive, mtime 10 ms, max file 8.0 EiB, free unknown`,
		},
	}
	for _, tt := range tests {
		if got := tt.info.String(); got != tt.want {
			t.Errorf("String() =\n\t%s\nwant\n\t%s", got, tt.want)
		}
	}
}

// TestFreeMatchesDf: the one free-space figure romsyncd uses is what df(1)
// reports as available, on the card filesystems where statfs's block size
// and fragment size may differ; writing a file lowers it by about its size.
func TestFreeMatchesDf(t *testing.T) {
	if _, err := exec.LookPath("df"); err != nil {
		t.Skip("needs df")
	}
	for _, fs := range []struct {
		name  string
		mount func(t *testing.T) string
	}{
		{"exFAT", func(t *testing.T) string { return testfs.ExFAT(t, "64M") }},
		{"FAT32", func(t *testing.T) string { return testfs.FAT32(t, "64M") }},
	} {
		t.Run(fs.name, func(t *testing.T) {
			dir := fs.mount(t)
			df := func() uint64 {
				t.Helper()
				out, err := exec.Command("df", "-B1", "--output=avail", dir).Output()
				if err != nil {
					t.Fatalf("df %s: %v", dir, err)
				}
				lines := strings.Fields(string(out))
				n, err := strconv.ParseUint(lines[len(lines)-1], 10, 64)
				if err != nil {
					t.Fatalf("df %s: %q: %v", dir, out, err)
				}
				return n
			}
			free, err := Free(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := df(); free != want {
				t.Errorf("Free = %d, df says %d available", free, want)
			}
			if err := os.WriteFile(filepath.Join(dir, "rom.bin"), make([]byte, 4<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			after, err := Free(dir)
			if err != nil {
				t.Fatal(err)
			}
			if used := free - after; used < 4<<20 || used > 5<<20 {
				t.Errorf("writing 4 MiB lowered Free by %d bytes", used)
			}
			if want := df(); after != want {
				t.Errorf("after a write: Free = %d, df says %d available", after, want)
			}
		})
	}
}

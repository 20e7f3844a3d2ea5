// Package targetfs tells what a target filesystem can do — case folding,
// rejected characters, mtime granularity, file size limit, free space — by
// probing it, and reads the mount facts (mountinfo, /etc/fstab) around it.
package targetfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/romsyncd/romsyncd/internal/bytesize"
	"golang.org/x/sys/unix"
)

// ErrSpaceUnknown is returned by Free when the filesystem reports no size at
// all, as fusefat does on volumes with clusters smaller than 1 KiB.
var ErrSpaceUnknown = errors.New("filesystem reports no size")

// Info is what a target filesystem is and can do.
type Info struct {
	MountPoint string
	Device     string // the mount source: "/dev/sdb1", "/dev/loop0", "tmpfs", "fusefat"
	// FSType is what the filesystem really is: "ext4", "tmpfs", "exfat",
	// "vfat" (any FAT), "ntfs", "xfs", "btrfs", "nfs", "cifs", "fuse.sshfs", …
	// A fuseblk mount whose device cannot be read stays "fuseblk".
	FSType string
	Driver string // the mountinfo type: "fuseblk", "fuse.fusefat", "ext4"

	FUSE    bool // served by a FUSE process, which can die mid-pass (ENOTCONN)
	Network bool // the data lives on another machine

	CaseInsensitive bool // probed: a file is found under a name that differs only in case
	// Rejects is the probed set of characters among `"*:<>?\|` that the
	// filesystem refuses in names, in that order ("" on ext4).
	Rejects string
	// FATNames is set when names need the FAT mapping (package names): the
	// filesystem is of the FAT family, or it rejected characters.
	FATNames bool
	// Unicode is probed: the filesystem accepts a name with non-ASCII
	// characters ("é", "：", "😀"). It is false on fusefat, which refuses
	// every name outside printable ASCII with EPERM, and on vfat mounted with
	// a legacy iocharset; the FAT look-alikes of package names need it.
	Unicode bool

	// MtimeGranularity is the probed precision of modification times:
	// 1 ns on ext4 and tmpfs, 10 ms with the kernel exfat driver, 1 s with
	// exfat-fuse, 2 s on FAT32 (odd seconds round down).
	MtimeGranularity time.Duration
	// MaxFileSize is the largest file the filesystem can hold, from its type
	// (see maxFileSize): 4 GiB − 1 on FAT32, math.MaxInt64 when unlimited.
	MaxFileSize int64
	// MaxNameBytes is the longest name: statfs's f_namelen in bytes, except
	// on the FAT family, where it is 255 and counts UTF-16 code units (the
	// long file name limit of FAT and exFAT, whatever the driver reports).
	MaxNameBytes int

	// Free and Total are the bytes available to an unprivileged writer and
	// the filesystem's size, from statfs, re-read on every Probe. Both are 0
	// when the filesystem does not report its size (see ErrSpaceUnknown).
	Free, Total uint64
}

// String summarises i in one line:
// "exfat (fuseblk), case-insensitive, rejects "*:<>?\|, mtime 1 s, max file 8 EiB, free 58 GiB".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.FSType)
	if i.Driver != "" && i.Driver != i.FSType {
		fmt.Fprintf(&b, " (%s)", i.Driver)
	}
	if i.CaseInsensitive {
		b.WriteString(", case-insensitive")
	} else {
		b.WriteString(", case-sensitive")
	}
	if i.Rejects != "" {
		fmt.Fprintf(&b, ", rejects %s", i.Rejects)
	}
	if !i.Unicode {
		b.WriteString(", ASCII names only")
	}
	fmt.Fprintf(&b, ", mtime %s, max file %s", formatDuration(i.MtimeGranularity), bytesize.Format(i.MaxFileSize))
	if i.Total == 0 {
		b.WriteString(", free unknown")
	} else {
		fmt.Fprintf(&b, ", free %s", bytesize.Format(int64(i.Free)))
	}
	return b.String()
}

// cacheKey identifies one mount instance. The statx mount ID is unique for
// the system's lifetime on Linux 6.8 and later (STATX_MNT_ID_UNIQUE); older
// kernels reuse IDs, so the rest of the key tells a remount apart where it can.
type cacheKey struct {
	mntID      uint64
	dev        uint64
	mountPoint string
	driver     string
	source     string
	options    string
}

var cache = struct {
	sync.Mutex
	m map[cacheKey]Info
}{m: map[cacheKey]Info{}}

// Probe returns what the filesystem holding the target root dir is and can
// do. scratch is a directory on the same filesystem (romsyncd passes
// <target>/.romsyncd) where Probe creates its probe files; it removes them
// before it returns, and fails if it cannot. The filesystem must be writable.
//
// The probed results are cached per mount (statx mount ID, device, mount
// point, driver, source, options), so a card that is unmounted and mounted
// again is probed again; Free and Total are re-read on every call.
func Probe(ctx context.Context, dir string, scratch string) (Info, error) {
	return probeWith(ctx, dir, scratch, Remember{})
}

func probeWith(ctx context.Context, dir string, scratch string, r Remember) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("probe %s: %w", dir, err)
	}
	var st, sst unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return Info{}, fmt.Errorf("probe %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Info{}, fmt.Errorf("probe %s: %w", dir, unix.ENOTDIR)
	}
	if err := unix.Stat(scratch, &sst); err != nil {
		return Info{}, fmt.Errorf("probe %s: scratch: %w", dir, err)
	}
	if sst.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Info{}, fmt.Errorf("probe %s: scratch %s: %w", dir, scratch, unix.ENOTDIR)
	}
	if sst.Dev != st.Dev {
		return Info{}, fmt.Errorf("probe %s: scratch %s is on another filesystem", dir, scratch)
	}
	mount, err := mountOf(dir, mountinfoPath)
	if err != nil {
		return Info{}, fmt.Errorf("probe %s: %w", dir, err)
	}
	mntID, err := mountID(dir)
	if err != nil {
		return Info{}, fmt.Errorf("probe %s: %w", dir, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return Info{}, fmt.Errorf("probe %s: statfs: %w", dir, err)
	}
	key := cacheKey{
		mntID:      mntID,
		dev:        st.Dev,
		mountPoint: mount.MountPoint,
		driver:     mount.FSType,
		source:     mount.Source,
		options:    mount.Options,
	}

	cache.Lock()
	info, ok := cache.m[key]
	cache.Unlock()
	if !ok {
		if r.ok() {
			info, ok = r.recall(mount.MountInfo)
		}
		if !ok {
			info, err = probe(ctx, mount.MountInfo, scratch, &sfs)
			if err != nil {
				return Info{}, fmt.Errorf("probe %s: %w", dir, err)
			}
			if r.ok() {
				r.store(mount.MountInfo, info)
			}
		}
		cache.Lock()
		for k := range cache.m {
			if k.mountPoint == key.mountPoint {
				delete(cache.m, k) // an earlier mount at the same place is gone or covered
			}
		}
		cache.m[key] = info
		cache.Unlock()
	}
	info.Free, info.Total = space(&sfs)
	return info, nil
}

// Free returns the bytes available on the filesystem holding dir, with one
// statfs call: the check before each copy. It fails with ErrSpaceUnknown when
// the filesystem reports no size.
func Free(dir string) (uint64, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	free, total := space(&sfs)
	if total == 0 {
		return 0, fmt.Errorf("free space of %s: %w", dir, ErrSpaceUnknown)
	}
	return free, nil
}

// space returns the available and total bytes that statfs reported.
func space(sfs *unix.Statfs_t) (free, total uint64) {
	unit := uint64(sfs.Frsize)
	if unit == 0 {
		unit = uint64(sfs.Bsize)
	}
	return sfs.Bavail * unit, sfs.Blocks * unit
}

// mountID returns the mount ID of the mount holding path: the unique 64-bit
// one when the kernel has it (Linux 6.8+), else the reusable one (Linux 5.8+),
// else 0 (the rest of the cache key has to do).
func mountID(path string) (uint64, error) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID_UNIQUE|unix.STATX_MNT_ID, &stx)
	if errors.Is(err, unix.ENOSYS) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("statx: %w", err)
	}
	if stx.Mask&(unix.STATX_MNT_ID_UNIQUE|unix.STATX_MNT_ID) == 0 {
		return 0, nil
	}
	return stx.Mnt_id, nil
}

// formatDuration prints a granularity as "1 ns", "100 ns", "10 ms", "2 s".
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "unknown"
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond && d%time.Microsecond == 0:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second && d%time.Millisecond == 0:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return d.String()
}

// errRemoveProbe marks a probe file that could not be removed.
var errRemoveProbe = errors.New("remove probe file")

// removeProbe removes a probe file; it is an error for Probe when that fails.
func removeProbe(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w %s: %w", errRemoveProbe, path, err)
	}
	return nil
}

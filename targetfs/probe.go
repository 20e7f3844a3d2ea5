package targetfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// fatRejected are the characters that FAT and exFAT refuse in names (besides
// '/', NUL and control characters), in the order Info.Rejects lists them.
const fatRejected = `"*:<>?\|`

// probeTime is the mtime set on a probe file: an odd second (FAT32 keeps even
// seconds) with nanoseconds that only a 1 ns clock keeps.
var probeTime = time.Date(2021, time.March, 14, 15, 9, 27, 123456789, time.UTC)

// probes counts behaviour probes run, for the cache tests.
var probes atomic.Int64

// probe runs the behaviour probes in scratch and fills in everything but
// Free and Total.
func probe(ctx context.Context, mount MountInfo, scratch string, sfs *unix.Statfs_t) (_ Info, err error) {
	probes.Add(1)
	info := Info{
		MountPoint: mount.MountPoint,
		Device:     mount.Source,
		Driver:     mount.FSType,
		FSType:     fsType(ctx, mount.FSType, mount.Source),
		FUSE:       isFUSE(mount.FSType),
	}
	info.Network = networkTypes[info.Driver] || networkTypes[info.FSType]

	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	base := filepath.Join(scratch, ".romsyncd-probe-"+hex.EncodeToString(rnd[:]))

	// The case probe file also carries the mtime probe.
	file := base + "-case"
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Info{}, fmt.Errorf("create probe file: %w", err)
	}
	defer func() { err = errors.Join(err, removeProbe(file)) }()
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("create probe file %s: %w", file, err)
	}

	if info.CaseInsensitive, err = caseInsensitive(file); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if info.MtimeGranularity, err = mtimeGranularity(file); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if info.Rejects, err = rejectedChars(base); err != nil {
		return Info{}, err
	}
	if info.Unicode, err = acceptsName(base + "-\u00e9\uff1a\U0001f600"); err != nil {
		return Info{}, fmt.Errorf("unicode probe: %w", err)
	}

	info.FATNames = fatFamily(info.FSType) || info.Rejects != ""
	info.MaxNameBytes = int(sfs.Namelen)
	if fatFamily(info.FSType) {
		info.MaxNameBytes = 255
	}
	info.MaxFileSize = maxFileSize(info.FSType, sfs.Bsize)
	return info, nil
}

// caseInsensitive reports whether the file at path (lower case) is found
// under its upper-case name.
func caseInsensitive(path string) (bool, error) {
	other := filepath.Join(filepath.Dir(path), strings.ToUpper(filepath.Base(path)))
	_, err := os.Lstat(other)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("case probe: %w", err)
}

// mtimeGranularity sets probeTime on the file at path, reads it back and
// returns the coarsest precision that explains the difference.
func mtimeGranularity(path string) (time.Duration, error) {
	if err := os.Chtimes(path, probeTime, probeTime); err != nil {
		return 0, fmt.Errorf("mtime probe: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("mtime probe: %w", err)
	}
	g, ok := granularity(probeTime, fi.ModTime())
	if !ok {
		return 0, fmt.Errorf("mtime probe %s: set %s, read back %s", path,
			probeTime.Format(time.RFC3339Nano), fi.ModTime().UTC().Format(time.RFC3339Nano))
	}
	return g, nil
}

// granularities are the timestamp precisions filesystems use: 1 ns (ext4,
// tmpfs, xfs, btrfs), 100 ns (NTFS), 10 ms (kernel exfat), 1 s (exfat-fuse,
// ext3), 2 s (FAT).
var granularities = []time.Duration{
	time.Nanosecond, 10 * time.Nanosecond, 100 * time.Nanosecond,
	time.Microsecond, 10 * time.Microsecond, 100 * time.Microsecond,
	time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond,
	time.Second, 2 * time.Second,
}

// granularity returns the smallest precision g with |set−got| < g, once a
// whole number of quarter hours is taken away (FAT stores local time, and a
// driver that disagrees on the time zone shifts it). It reports false when no
// precision explains the difference.
func granularity(set, got time.Time) (time.Duration, bool) {
	d := set.Sub(got)
	if d < 0 {
		d = -d
	}
	if d >= 2*time.Second {
		const quarter = 15 * time.Minute
		d %= quarter
		if d > quarter/2 {
			d = quarter - d
		}
	}
	for _, g := range granularities {
		if d < g {
			return g, true
		}
	}
	return 0, false
}

// rejectedChars creates a file named base-a<c>b for each character c of
// fatRejected and returns the characters whose file could not be created.
// A refusal comes as EINVAL from the kernel drivers, ENOENT from exfat-fuse
// and EPERM from fusefat, so any error counts, except those that say nothing
// about names (no space, I/O, read-only, a dead FUSE process): they fail the
// probe instead.
func rejectedChars(base string) (string, error) {
	var rejected strings.Builder
	for _, c := range fatRejected {
		ok, err := acceptsName(base + "-a" + string(c) + "b")
		if err != nil {
			return "", fmt.Errorf("name probe %q: %w", c, err)
		}
		if !ok {
			rejected.WriteRune(c)
		}
	}
	return rejected.String(), nil
}

// acceptsName creates and removes a file at path and reports whether the
// filesystem accepted its name.
func acceptsName(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		cerr := f.Close()
		if err := errors.Join(cerr, removeProbe(path)); err != nil {
			return false, err
		}
		return true, nil
	}
	if notAboutNames(err) {
		return false, err
	}
	return false, nil
}

func notAboutNames(err error) bool {
	for _, e := range []error{unix.ENOSPC, unix.EDQUOT, unix.EIO, unix.EROFS,
		unix.ENOTCONN, unix.ENODEV, unix.ENXIO, unix.ESTALE, unix.EINTR, unix.ENOMEM,
		unix.EMFILE, unix.ENFILE, unix.ECONNABORTED, unix.ETIMEDOUT, unix.EHOSTDOWN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

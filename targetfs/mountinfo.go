package targetfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mountinfoPath is where the kernel lists the mounts this process sees.
const mountinfoPath = "/proc/self/mountinfo"

// MountInfo is one line of /proc/self/mountinfo.
type MountInfo struct {
	MountPoint string // with the kernel's \040-style escapes decoded
	FSType     string // the driver: "ext4", "fuseblk", "fuse.fusefat", "tmpfs"
	Source     string // "/dev/sda1", "/dev/loop0", "tmpfs", "fusefat"
	// Options holds the per-mount options followed by the filesystem's own
	// (super block) options that the mount options do not already list,
	// comma-separated: "rw,nosuid,relatime,user_id=0,blksize=4096".
	Options      string
	Major, Minor int // st_dev of files on the mount
}

// Mount is a MountInfo with the kernel's mount ID, which tells apart two
// mounts made one after the other at the same mount point.
type Mount struct {
	MountInfo
	ID int // unique among current mounts only
}

// ParseMountinfo parses text in the format of /proc/self/mountinfo (proc(5))
// into its mounts, in the kernel's order: a later mount at the same mount
// point is on top.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	entries, err := parseMountinfo(r)
	if err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	mounts := make([]Mount, len(entries))
	for i, e := range entries {
		mounts[i] = Mount{MountInfo: e.MountInfo, ID: e.id}
	}
	return mounts, nil
}

// mountEntry is a MountInfo with the fields that tell mounts apart.
type mountEntry struct {
	MountInfo
	id    int // mount ID, unique among current mounts only
	super string
}

// MountOf returns the mount that holds path: the mountinfo entry whose mount
// point is the longest prefix of path, after resolving the symlinks of the
// part of path that exists. When a mount point is mounted over, the topmost
// mount wins.
func MountOf(path string) (MountInfo, error) {
	e, err := mountOf(path, mountinfoPath)
	return e.MountInfo, err
}

func mountOf(path, mountinfo string) (mountEntry, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return mountEntry{}, fmt.Errorf("mount of %s: %w", path, err)
	}
	entries, err := readMountinfo(mountinfo)
	if err != nil {
		return mountEntry{}, fmt.Errorf("mount of %s: %w", path, err)
	}
	e, ok := mountHolding(entries, resolveExisting(abs))
	if !ok {
		return mountEntry{}, fmt.Errorf("mount of %s: no mount point in %s holds it", path, mountinfo)
	}
	return e, nil
}

// mountHolding returns the mount whose mount point is the longest prefix of
// the resolved path p; of several at the same point, the topmost.
func mountHolding(entries []mountEntry, p string) (mountEntry, bool) {
	best := -1
	for i, e := range entries {
		if !underDir(p, e.MountPoint) {
			continue
		}
		// ">=": a later entry at the same mount point is mounted on top.
		if best < 0 || len(e.MountPoint) >= len(entries[best].MountPoint) {
			best = i
		}
	}
	if best < 0 {
		return mountEntry{}, false
	}
	return entries[best], true
}

// resolveExisting resolves the symlinks of the longest existing prefix of the
// absolute path p and appends the rest unchanged. A prefix that cannot be
// resolved (missing, or on a FUSE mount whose process died) is skipped.
func resolveExisting(p string) string {
	p = filepath.Clean(p)
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// underDir reports whether path p is dir or lies below it.
func underDir(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

func readMountinfo(path string) ([]mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	entries, err := parseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo %s: %w", path, err)
	}
	return entries, nil
}

// parseMountinfo parses the format of proc(5):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// (mount ID, parent ID, major:minor, root, mount point, mount options,
// optional fields, "-", filesystem type, source, super options).
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var entries []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseMountinfoLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return entries, nil
}

var errMountinfoLine = errors.New("malformed mountinfo line")

func parseMountinfoLine(line string) (mountEntry, error) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+3 {
		return mountEntry{}, fmt.Errorf("%w: %q", errMountinfoLine, line)
	}
	id, err := strconv.Atoi(fields[0])
	if err != nil {
		return mountEntry{}, fmt.Errorf("%w: mount ID %q", errMountinfoLine, fields[0])
	}
	majStr, minStr, ok := strings.Cut(fields[2], ":")
	maj, err1 := strconv.Atoi(majStr)
	minor, err2 := strconv.Atoi(minStr)
	if !ok || err1 != nil || err2 != nil {
		return mountEntry{}, fmt.Errorf("%w: device %q", errMountinfoLine, fields[2])
	}
	super := ""
	if len(fields) > sep+3 {
		super = fields[sep+3]
	}
	return mountEntry{
		MountInfo: MountInfo{
			MountPoint: unescapeOctal(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescapeOctal(fields[sep+2]),
			Options:    joinOptions(fields[5], super),
			Major:      maj,
			Minor:      minor,
		},
		id:    id,
		super: super,
	}, nil
}

// joinOptions appends the super options that opts does not already list.
func joinOptions(opts, super string) string {
	have := map[string]bool{}
	for o := range strings.SplitSeq(opts, ",") {
		have[o] = true
	}
	out := opts
	for o := range strings.SplitSeq(super, ",") {
		if o != "" && !have[o] {
			have[o] = true
			out += "," + o
		}
	}
	return out
}

// unescapeOctal decodes the \NNN escapes that the kernel (mountinfo) and
// fstab(5) use for space (\040), tab (\011), newline (\012) and backslash
// (\134) in paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

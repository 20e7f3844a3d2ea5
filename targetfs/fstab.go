package targetfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fstabPath is the static filesystem table, fstab(5).
const fstabPath = "/etc/fstab"

// UnmountedFstabMount reports whether path lies under a mount point listed in
// /etc/fstab that is not mounted now: the empty mount point of an absent SD
// card, where romsyncd must never create a target folder.
//
// It returns the deepest fstab mount point that holds path (so a card mounted
// at /media/nas/sd counts even when /media/nas is absent), and whether it is
// unmounted; mountPoint is "" when no fstab entry other than "/" holds path.
// Entries marked noauto count like any other: an absent card is exactly that.
// Swap entries and entries without a mount point ("none") are ignored. A
// missing /etc/fstab (containers) is no error: nothing is listed.
func UnmountedFstabMount(path string) (mountPoint string, unmounted bool, err error) {
	return unmountedFstabMount(path, fstabPath, mountinfoPath)
}

func unmountedFstabMount(path, fstab, mountinfo string) (string, bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, fmt.Errorf("fstab mount of %s: %w", path, err)
	}
	points, err := readFstab(fstab)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("fstab mount of %s: %w", path, err)
	}
	p := resolveExisting(abs)
	deepest := ""
	for _, mp := range points {
		mp = resolveExisting(mp)
		if mp != "/" && underDir(p, mp) && len(mp) > len(deepest) {
			deepest = mp
		}
	}
	if deepest == "" {
		return "", false, nil
	}
	entries, err := readMountinfo(mountinfo)
	if err != nil {
		return "", false, fmt.Errorf("fstab mount of %s: %w", path, err)
	}
	for _, e := range entries {
		if e.MountPoint == deepest {
			return deepest, false, nil
		}
	}
	return deepest, true, nil
}

// readFstab returns the mount points that fstab lists.
func readFstab(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read fstab: %w", err)
	}
	defer f.Close()
	points, err := parseFstab(f)
	if err != nil {
		return nil, fmt.Errorf("read fstab %s: %w", path, err)
	}
	return points, nil
}

// parseFstab returns the mount points (second field, escapes decoded) of the
// entries of an fstab(5) file, skipping blank lines, comments, swap and
// "ignore" entries and mount points that are not absolute paths ("none").
func parseFstab(r io.Reader) ([]string, error) {
	var points []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue // fs_spec alone: mount(8) ignores it too
		}
		mp := unescapeOctal(fields[1])
		if len(fields) >= 3 && (fields[2] == "swap" || fields[2] == "ignore") {
			continue
		}
		if !strings.HasPrefix(mp, "/") {
			continue
		}
		points = append(points, filepath.Clean(mp))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return points, nil
}

package targetfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrCardAbsent is returned by CheckCreatable when creating a folder would
// create, or write inside, the mount point of a card that is not mounted.
var ErrCardAbsent = errors.New("card not mounted")

// CardMountRoots are the folders under which removable cards are mounted:
// udisks2 mounts at /media/USER/LABEL (Debian, Ubuntu) or
// /run/media/USER/LABEL (Fedora, Arch), and /mnt/X is where people mount
// cards by hand. Below one of them, only a mounted card may receive a new
// folder, never the filesystem that holds the root itself. Tests point it at
// folders they mount filesystems under.
var CardMountRoots = []string{"/media", "/run/media", "/mnt"}

// CheckCreatable reports whether a missing folder path may be created,
// with every missing folder above it. It fails with ErrCardAbsent when a
// part of path that would be created is, or lies inside, the mount point of
// an absent card:
//
//   - a mount point listed in /etc/fstab that is not mounted holds path;
//   - path lies under one of CardMountRoots, and the nearest existing
//     folder above it is on the filesystem that holds that root rather than
//     on a filesystem mounted below it: /media/USER/LABEL, /media/USER,
//     /mnt/X missing, or existing as a plain folder of the system disk.
//
// It decides from the mount table, never from what a folder holds: a
// /media/USER that holds other cards is no place for a new folder either.
func CheckCreatable(path string) error {
	return checkCreatable(path, CardMountRoots, fstabPath, mountinfoPath)
}

func checkCreatable(path string, roots []string, fstab, mountinfo string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	mp, down, err := unmountedFstabMount(abs, fstab, mountinfo)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if down {
		return fmt.Errorf("%s is listed in %s but not mounted: %w", mp, fstab, ErrCardAbsent)
	}
	p := resolveExisting(abs)
	existing, missing, err := nearestExisting(p)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if missing == "" {
		return nil // nothing to create
	}
	entries, err := readMountinfo(mountinfo)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	for _, root := range roots {
		root = resolveExisting(filepath.Clean(root))
		if !underDir(p, root) || root == "/" {
			continue
		}
		if !underDir(existing, root) {
			// The root itself is missing: the card's mount point would be
			// made along with it.
			return fmt.Errorf("%s would be created where cards are mounted (%s does not exist): %w", missing, root, ErrCardAbsent)
		}
		holder, ok := mountHolding(entries, existing)
		rootMount, rok := mountHolding(entries, root)
		if !ok || !rok {
			return fmt.Errorf("check %s: no mount holds %s in %s", path, existing, mountinfo)
		}
		if holder.id == rootMount.id {
			return fmt.Errorf("%s would be created on the filesystem that holds %s, not on a mounted card: %w", missing, root, ErrCardAbsent)
		}
	}
	return nil
}

// nearestExisting splits the absolute path p into its deepest existing
// ancestor (or p itself) and the first missing folder below it ("" when p
// exists).
func nearestExisting(p string) (existing, missing string, err error) {
	for {
		_, err := os.Lstat(p)
		if err == nil {
			return p, missing, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p, missing, nil
		}
		missing, p = p, parent
	}
}

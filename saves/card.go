package saves

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/targetfs"
	"golang.org/x/sys/unix"
)

// cardRoot returns the card's root for a profile target (the card's ROM
// root) and the layout's ROM root relative to the card root.
func cardRoot(target, roms string) (string, error) {
	target = filepath.Clean(target)
	if roms == "" {
		return target, nil
	}
	root := target
	parts := strings.Split(roms, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if !strings.EqualFold(filepath.Base(root), parts[i]) {
			return "", fmt.Errorf("target %s does not end in %s, the ROM root of this layout: cannot tell where the card's root (and its saves) are", target, roms)
		}
		root = filepath.Dir(root)
	}
	return root, nil
}

var cardIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// CardID returns the id of the card holding target: the id in romsyncd's
// marker (<target>/.romsyncd/marker, read only), else the filesystem's
// UUID. A target with neither is ErrNoCard: no card is mounted there.
func CardID(target string) (string, error) {
	p := filepath.Join(target, cardstate.MetaDirName, cardstate.MarkerName)
	data, err := readNoAtime(p)
	if err == nil {
		var m cardstate.Marker
		if json.Unmarshal(data, &m) == nil && m.ID != "" && cardIDRE.MatchString(m.ID) {
			return m.ID, nil
		}
	}
	if id, ok := fsUUID(target); ok {
		return id, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("card at %s: %w", target, err)
	}
	return "", fmt.Errorf("%w at %s: no romsyncd marker (%s) and no filesystem UUID; insert the card, or run `romsyncd sync` once to mark it", ErrNoCard, target, p)
}

// fsUUID finds the UUID of the block device mounted at (or above) dir
// through /dev/disk/by-uuid.
func fsUUID(dir string) (string, bool) {
	mi, err := targetfs.MountOf(dir)
	if err != nil || !strings.HasPrefix(mi.Source, "/dev/") {
		return "", false
	}
	dev, err := filepath.EvalSymlinks(mi.Source)
	if err != nil {
		return "", false
	}
	ents, err := os.ReadDir("/dev/disk/by-uuid")
	if err != nil {
		return "", false
	}
	for _, e := range ents {
		if t, err := filepath.EvalSymlinks(filepath.Join("/dev/disk/by-uuid", e.Name())); err == nil && t == dev && cardIDRE.MatchString(e.Name()) {
			return "uuid-" + e.Name(), true
		}
	}
	return "", false
}

// openNoAtime opens a file or folder of the card for reading without
// updating its access time where the kernel allows it (O_NOATIME needs the
// file's owner or CAP_FOWNER: EPERM otherwise, then a plain open).
func openNoAtime(p string, flags int) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOATIME|flags, 0)
	if errors.Is(err, unix.EPERM) {
		fd, err = unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func readNoAtime(p string) ([]byte, error) {
	f, err := openNoAtime(p, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// readDir lists a card folder without touching its access time.
func readDir(dir string) ([]os.DirEntry, error) {
	f, err := openNoAtime(dir, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// hashCardFile hashes a card file's content, read without touching its
// access time, and returns the size read.
func hashCardFile(p string, buf []byte) (cardstate.Hash, int64, error) {
	f, err := openNoAtime(p, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := xxhash.New()
	var n int64
	for {
		m, err := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, n, fmt.Errorf("read %s: %w", p, err)
		}
	}
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	return cardstate.Hash(h.Sum64()), n, nil
}

package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"golang.org/x/sys/unix"
)

// srcFile is one library file as listed from disk (stat only).
type srcFile struct {
	Rel   string // relative to the source root, slash-separated
	Size  int64
	Mtime int64  // Unix ns
	Name  string // the name it gets on the target
	Key   string // collision key of Name on the target
	// Member, for a one-ROM zip the device wants unzipped (zipsrc.go), is
	// the zip's one file, installed as Name; Rel, Size and Mtime stay the
	// zip's. MemberSize is its uncompressed size.
	Member     string
	MemberSize int64
	// Content, when not nil, is a generated source (a multi-disc game's
	// playlist): it is written instead of reading Rel, which the library
	// does not have. Mtime is then a key of the content (a new content is
	// "changed in library"); ContentTime is the mtime the file gets.
	Content     []byte
	ContentTime int64
}

// alwaysSkipped are never copied: macOS, Windows and NAS litter, and
// romsyncd's own temp files.
func alwaysSkipped(name string, isDir bool) bool {
	switch name {
	case ".DS_Store", "Thumbs.db", "desktop.ini", "@eaDir", "#recycle", "$RECYCLE.BIN",
		"System Volume Information", ".Spotlight-V100", ".fseventsd", ".Trashes", cardstate.MetaDirName:
		return true
	}
	if strings.HasPrefix(name, "._") || strings.HasPrefix(name, ".Trash-") {
		return true
	}
	if cardstate.IsTemp(name) {
		return true
	}
	return false
}

// Skipped reports whether a library path is never copied whatever the
// profile says (the watcher leaves such names out too).
func Skipped(rel string, isDir bool) bool {
	return alwaysSkipped(path.Base(rel), isDir)
}

// filter decides which library paths a profile copies.
type filter struct {
	include, exclude []string
}

// match reports whether glob g matches rel: a glob without '/' matches the
// base name, one with '/' the whole relative path.
func globMatch(g, rel string) bool {
	if !strings.Contains(g, "/") {
		ok, _ := path.Match(g, path.Base(rel))
		return ok
	}
	ok, _ := path.Match(g, rel)
	return ok
}

func (f filter) excluded(rel string) bool {
	for _, g := range f.exclude {
		if globMatch(g, rel) {
			return true
		}
	}
	return false
}

func (f filter) wantFile(rel string) bool {
	if f.excluded(rel) {
		return false
	}
	if len(f.include) == 0 {
		return true
	}
	for _, g := range f.include {
		if globMatch(g, rel) {
			return true
		}
	}
	return false
}

// listing is what one ReadDir of a library folder found.
type listing struct {
	files   []srcFile
	dirs    []string // sub-folder names
	skipped []Item   // entries left out with a reason
}

// listSource lists one library folder (not recursive), stat only. Symlinks
// are followed only when they resolve inside root; links to folders are not
// followed (a loop can never hang a pass).
func listSource(root, rel string, flt filter) (listing, error) {
	var out listing
	abs := filepath.Join(root, filepath.FromSlash(rel))
	fd, ents, err := listDir(abs)
	if err != nil {
		return out, fmt.Errorf("list %s: %w", abs, err)
	}
	defer unix.Close(fd)
	out.files = make([]srcFile, 0, len(ents))
	for _, e := range ents {
		name := e.name
		crel := name
		if rel != "." {
			crel = rel + "/" + name
		}
		if alwaysSkipped(name, e.typ == unix.DT_DIR) {
			continue
		}
		var size, mtime int64
		switch e.typ {
		case unix.DT_LNK:
			real, err := filepath.EvalSymlinks(filepath.Join(abs, name))
			if err != nil {
				out.skipped = append(out.skipped, Item{Path: crel, Reason: "broken symlink", Skip: outcome.Link})
				continue
			}
			if !within(real, root) {
				out.skipped = append(out.skipped, Item{Path: crel, Reason: "symlink points outside the library", Skip: outcome.Link})
				continue
			}
			info, err := os.Stat(real)
			if err != nil {
				out.skipped = append(out.skipped, Item{Path: crel, Reason: "symlink: " + errText(err), Skip: outcome.Link})
				continue
			}
			if info.IsDir() {
				out.skipped = append(out.skipped, Item{Path: crel, Reason: "symlink to a folder (not followed)", Skip: outcome.Link})
				continue
			}
			if !info.Mode().IsRegular() {
				continue
			}
			size, mtime = info.Size(), info.ModTime().UnixNano()
		case unix.DT_DIR:
			if !flt.excluded(crel) {
				out.dirs = append(out.dirs, name)
			}
			continue
		case unix.DT_REG, unix.DT_UNKNOWN:
			var st unix.Stat_t
			err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			if errors.Is(err, unix.ENOENT) {
				continue // removed since the listing
			}
			if err != nil {
				return out, fmt.Errorf("stat %s: %w", filepath.Join(abs, name), err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				if st.Mode&unix.S_IFMT == unix.S_IFDIR && !flt.excluded(crel) {
					out.dirs = append(out.dirs, name) // d_type was unknown
				}
				continue
			}
			size, mtime = st.Size, st.Mtim.Nano()
		default:
			continue // devices, sockets, fifos
		}
		if !flt.wantFile(crel) {
			continue
		}
		out.files = append(out.files, srcFile{Rel: crel, Size: size, Mtime: mtime})
	}
	return out, nil
}

// within reports whether p is root or lies inside it.
func within(p, root string) bool {
	rr, err := filepath.EvalSymlinks(root)
	if err == nil {
		root = rr
	}
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// targetStat is one entry of a target folder.
type targetStat struct {
	Name  string
	Size  int64
	Mtime int64
	Dir   bool // a folder (or anything not a regular file)
}

// listTarget lists a target folder; a missing folder is empty.
func listTarget(dir string) (map[string]targetStat, error) {
	fd, ents, err := listDir(dir)
	if isNotExist(err) {
		return map[string]targetStat{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list target %s: %w", dir, err)
	}
	defer unix.Close(fd)
	out := make(map[string]targetStat, len(ents))
	for _, e := range ents {
		st := targetStat{Name: e.name}
		if e.typ != unix.DT_REG && e.typ != unix.DT_UNKNOWN {
			st.Dir = true
			out[st.Name] = st
			continue
		}
		var sb unix.Stat_t
		err := unix.Fstatat(fd, st.Name, &sb, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", filepath.Join(dir, st.Name), err)
		}
		if sb.Mode&unix.S_IFMT != unix.S_IFREG {
			st.Dir = true
		}
		st.Size = sb.Size
		st.Mtime = sb.Mtim.Nano()
		out[st.Name] = st
	}
	return out, nil
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

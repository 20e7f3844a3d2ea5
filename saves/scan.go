package saves

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// maxDepth bounds the walk below a platform or core folder (a core may
// keep one folder per game; Pocket keeps one per core).
const maxDepth = 4

// scan lists the card's save files of every location of the layout. It
// reads folders (without touching their access times) and file
// attributes, never file content.
func (r *run) scan() ([]found, error) {
	locs, err := Locations(r.o.Layout)
	if err != nil {
		return nil, err
	}
	var out []found
	seen := map[string]bool{}
	for _, l := range locs {
		if l.Kind == KindState && !r.o.States {
			continue
		}
		var fs []found
		if l.Dir == RomFolder {
			fs, err = r.scanRomFolders(l)
		} else {
			fs, err = r.scanBase(l)
		}
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if !seen[f.rel] {
				seen[f.rel] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// scanBase walks <card>/<l.Base>/<part>/...
func (r *run) scanBase(l Location) ([]found, error) {
	base := filepath.Join(r.card, filepath.FromSlash(l.Base))
	ents, err := readDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list saves %s: %w", base, err)
	}
	var out []found
	for _, e := range ents {
		if !e.IsDir() || skipName(e.Name()) {
			continue
		}
		platform := l.PlatformOf(e.Name())
		if err := r.walk(l, path.Join(l.Base, e.Name()), platform, 1, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *run) walk(l Location, rel, platform string, depth int, out *[]found) error {
	dir := filepath.Join(r.card, filepath.FromSlash(rel))
	ents, err := readDir(dir)
	if err != nil {
		return fmt.Errorf("list saves %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if skipName(name) {
			continue
		}
		if e.IsDir() {
			if depth < maxDepth {
				if err := r.walk(l, path.Join(rel, name), platform, depth+1, out); err != nil {
					return err
				}
			}
			continue
		}
		if f, ok := r.file(l, path.Join(rel, name), platform, name, e); ok {
			*out = append(*out, f)
		}
	}
	return nil
}

// scanRomFolders finds saves next to the ROMs: files matching the
// location's patterns in the folders romsyncd manages that romsyncd did
// not install.
func (r *run) scanRomFolders(l Location) ([]found, error) {
	folders, err := cardstate.LoadManifests(filepath.Join(r.o.Target, cardstate.MetaDirName))
	if err != nil {
		return nil, fmt.Errorf("saves next to ROMs: %w", err)
	}
	var out []found
	for dir, m := range folders {
		abs := filepath.Join(r.o.Target, filepath.FromSlash(dir))
		ents, err := readDir(abs)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list saves %s: %w", abs, err)
		}
		rel := dir
		if l.Roms != "" {
			rel = path.Join(l.Roms, dir)
		}
		platform := path.Base(dir)
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || skipName(name) || m.Files[name] != nil {
				continue
			}
			if f, ok := r.file(l, path.Join(rel, name), platform, name, e); ok {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// file turns a directory entry into a found save when its name matches.
func (r *run) file(l Location, rel, platform, name string, e os.DirEntry) (found, bool) {
	if !e.Type().IsRegular() {
		return found{}, false
	}
	stem, suffix, ok := l.split(name)
	if !ok {
		return found{}, false
	}
	info, err := e.Info()
	if err != nil {
		return found{}, false
	}
	return found{rel: rel, kind: l.Kind, platform: platform, game: gameName(stem, l.Game), stem: stem, suffix: suffix,
		size: info.Size(), mtime: info.ModTime().UnixNano()}, true
}

// skipName leaves out romsyncd's temp files, macOS litter and romsyncd's
// own folder.
func skipName(name string) bool {
	return cardstate.IsTemp(name) || strings.HasPrefix(name, "._") || name == cardstate.MetaDirName || name == ".DS_Store"
}

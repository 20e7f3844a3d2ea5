package library

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Mutation says how many files a mutation modifies (new content and mtime),
// adds and deletes.
type Mutation struct {
	Name                string
	Modify, Add, Delete int
}

// Mutations are the named mutations of `bench/gen -mutate`.
var Mutations = map[string]Mutation{
	"small-change": {Name: "small-change", Modify: 10, Add: 5, Delete: 2},
}

// Change is one file a mutation touched.
type Change struct {
	Op  string // "modify", "add" or "delete"
	Rel string
}

// mutationEpoch is when mutations happen: after every generated mtime.
var mutationEpoch = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)

// Mutate applies m to the library under dir. The files it picks depend only
// on the seed and the library's current listing, so the same library and
// seed always change the same way. Modified files are replaced through a
// temp file and a rename, so hard links into another tree (cp -al) keep the
// original content.
func Mutate(dir string, m Mutation, seed uint64) ([]Change, error) {
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) < m.Modify+m.Delete || (m.Add > 0 && len(files) == 0) {
		return nil, fmt.Errorf("mutate %s: %d files, need at least %d", dir, len(files), max(1, m.Modify+m.Delete))
	}
	r := newRNG(derive(seed, label("mutate"), label(m.Name)))
	// A partial Fisher-Yates shuffle picks distinct victims.
	idx := make([]int, len(files))
	for i := range idx {
		idx[i] = i
	}
	for i := 0; i < m.Modify+m.Delete; i++ {
		j := i + r.intn(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	var changes []Change
	touched := map[string]bool{}
	buf := make([]byte, bufSize)
	stamp := func() time.Time {
		return mutationEpoch.Add(time.Duration(r.uint64n(30*24*3600))*time.Second + time.Duration(r.intn(int(time.Second))))
	}
	for i := 0; i < m.Modify; i++ {
		f := files[idx[i]]
		size := f.Size
		if r.chance(50) {
			size = max(1, size+r.between(-size/4, size/4))
		}
		nf := File{Rel: f.Rel, Size: size, ModTime: stamp(), Seed: derive(seed, label("mutate-content"), label(m.Name), label(f.Rel))}
		if err := replaceFile(dir, nf, buf); err != nil {
			return changes, err
		}
		changes = append(changes, Change{Op: "modify", Rel: f.Rel})
		touched[folderOf(f.Rel)] = true
	}
	for i := m.Modify; i < m.Modify+m.Delete; i++ {
		rel := files[idx[i]].Rel
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.Remove(p); err != nil {
			return changes, fmt.Errorf("delete %s: %w", p, err)
		}
		changes = append(changes, Change{Op: "delete", Rel: rel})
		touched[folderOf(rel)] = true
	}
	for i := 0; i < m.Add; i++ {
		sibling := files[r.intn(len(files))]
		folder := folderOf(sibling.Rel)
		names := newNameGen(newRNG(derive(seed, label("mutate-names"), label(m.Name), uint64(i))), path.Ext(sibling.Rel))
		existing, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(folder)))
		if err != nil {
			return changes, fmt.Errorf("list %s: %w", folder, err)
		}
		for _, e := range existing {
			names.reserve(e.Name())
		}
		nf := File{Rel: path.Join(folder, names.next()), Size: sibling.Size, ModTime: stamp(),
			Seed: derive(seed, label("mutate-add"), label(m.Name), uint64(i))}
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(nf.Rel)), nf, buf, os.O_EXCL); err != nil {
			return changes, err
		}
		changes = append(changes, Change{Op: "add", Rel: nf.Rel})
		touched[folder] = true
	}
	folders := make([]string, 0, len(touched))
	for f := range touched {
		folders = append(folders, f)
	}
	sort.Strings(folders)
	for _, f := range folders {
		t := stamp()
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.Chtimes(p, t, t); err != nil {
			return changes, fmt.Errorf("set mtime %s: %w", p, err)
		}
	}
	return changes, nil
}

// replaceFile writes f through a temp file in the same folder and renames it
// over the old file.
func replaceFile(dir string, f File, buf []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(f.Rel))
	tmp := filepath.Join(filepath.Dir(p), ".bench-mutate.tmp")
	if err := writeFile(tmp, f, buf, 0); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", p, err)
	}
	return nil
}

// listFiles returns the regular files under dir (hidden entries skipped),
// sorted by slash path.
func listFiles(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, File{Rel: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Rel < files[j].Rel })
	return files, nil
}

// LinkFirst makes dst a library of the first n files of src in path order,
// hard-linked (so it costs no space and shares contents and mtimes), with
// the folders' mtimes copied.
func LinkFirst(src, dst string, n int) error {
	files, err := listFiles(src)
	if err != nil {
		return err
	}
	if n > len(files) {
		return fmt.Errorf("link %s: only %d files, want %d", src, len(files), n)
	}
	if err := ensureEmptyDir(dst); err != nil {
		return err
	}
	folders := map[string]bool{}
	for _, f := range files[:n] {
		d := folderOf(f.Rel)
		if !folders[d] {
			folders[d] = true
			if err := os.MkdirAll(filepath.Join(dst, filepath.FromSlash(d)), 0o755); err != nil {
				return fmt.Errorf("create folder %s: %w", d, err)
			}
		}
		from, to := filepath.Join(src, filepath.FromSlash(f.Rel)), filepath.Join(dst, filepath.FromSlash(f.Rel))
		if err := os.Link(from, to); err != nil {
			return fmt.Errorf("link %s: %w", to, err)
		}
	}
	for d := range folders {
		info, err := os.Stat(filepath.Join(src, filepath.FromSlash(d)))
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if err := os.Chtimes(filepath.Join(dst, filepath.FromSlash(d)), info.ModTime(), info.ModTime()); err != nil {
			return fmt.Errorf("set mtime %s: %w", d, err)
		}
	}
	return nil
}

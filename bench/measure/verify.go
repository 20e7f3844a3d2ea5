package measure

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// CompareOptions tune Compare.
type CompareOptions struct {
	// ModifyWindow is the mtime difference tolerated (1 s on exFAT, which
	// drops sub-second parts).
	ModifyWindow time.Duration
	// Ignore lists names at the mirror's root that belong to the tool (its
	// state folder), not to the mirror.
	Ignore []string
	// Sample compares the first and last 4 KiB of every file.
	Sample bool
}

// entry is one file or folder of a tree.
type entry struct {
	dir   bool
	size  int64
	mtime time.Time
}

// Compare checks that dst mirrors src: same folders and files, same sizes,
// file mtimes within the window, and (with Sample) the same head and tail
// bytes. It returns one line per difference, at most limit of them, and the
// number of files compared.
func Compare(src, dst string, opt CompareOptions, limit int) (diffs []string, files int, err error) {
	a, err := scan(src, nil)
	if err != nil {
		return nil, 0, err
	}
	b, err := scan(dst, opt.Ignore)
	if err != nil {
		return nil, 0, err
	}
	add := func(format string, args ...any) {
		if len(diffs) < limit {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	names := make([]string, 0, len(a))
	for rel := range a {
		names = append(names, rel)
	}
	sort.Strings(names)
	ndiff := 0
	for _, rel := range names {
		ea := a[rel]
		eb, ok := b[rel]
		switch {
		case !ok:
			ndiff++
			add("missing on mirror: %s", rel)
			continue
		case ea.dir != eb.dir:
			ndiff++
			add("kind differs: %s", rel)
			continue
		case ea.dir:
			continue
		}
		files++
		d := ea.mtime.Sub(eb.mtime).Abs()
		switch {
		case ea.size != eb.size:
			ndiff++
			add("size differs: %s (%d vs %d)", rel, ea.size, eb.size)
		case d > opt.ModifyWindow:
			ndiff++
			add("mtime differs by %s: %s", d, rel)
		case opt.Sample:
			same, err := sameSample(filepath.Join(src, rel), filepath.Join(dst, rel), ea.size)
			if err != nil {
				return diffs, files, err
			}
			if !same {
				ndiff++
				add("content differs: %s", rel)
			}
		}
	}
	var extra []string
	for rel := range b {
		if _, ok := a[rel]; !ok {
			extra = append(extra, rel)
		}
	}
	sort.Strings(extra)
	for _, rel := range extra {
		ndiff++
		add("extra on mirror: %s", rel)
	}
	if ndiff > len(diffs) {
		diffs = append(diffs, fmt.Sprintf("... and %d more", ndiff-len(diffs)))
	}
	return diffs, files, nil
}

func scan(root string, ignore []string) (map[string]entry, error) {
	skip := map[string]bool{}
	for _, n := range ignore {
		skip[n] = true
	}
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = entry{dir: d.IsDir(), size: info.Size(), mtime: info.ModTime()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	return out, nil
}

// sameSample compares the first and last 4 KiB of two files of size n.
func sameSample(a, b string, n int64) (bool, error) {
	const k = 4096
	read := func(p string) ([]byte, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		defer f.Close()
		buf := make([]byte, 0, 2*k)
		head := make([]byte, min(k, n))
		if _, err := io.ReadFull(f, head); err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		buf = append(buf, head...)
		if n > k {
			tail := make([]byte, min(k, n-k))
			if _, err := f.ReadAt(tail, n-int64(len(tail))); err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			buf = append(buf, tail...)
		}
		return buf, nil
	}
	x, err := read(a)
	if err != nil {
		return false, err
	}
	y, err := read(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

package library

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// bufSize is the write size: large writes keep generation disk-bound.
const bufSize = 1 << 20

// Write creates the library under dir, which must be missing or empty,
// with workers files in flight at once. File contents and mtimes, and the
// mtimes of the folders, depend only on the plan.
func Write(ctx context.Context, dir string, lib Library, workers int) error {
	if err := ensureEmptyDir(dir); err != nil {
		return err
	}
	for _, f := range lib.Folders {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create folder %s: %w", p, err)
		}
	}
	if workers < 1 {
		workers = 1
	}
	jobs := make(chan File)
	errc := make(chan error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, bufSize)
			for f := range jobs {
				if err := writeFile(filepath.Join(dir, filepath.FromSlash(f.Rel)), f, buf, os.O_EXCL); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for _, f := range lib.Files {
		select {
		case jobs <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("generate %s: %w", dir, err)
	}
	return setFolderTimes(dir, lib)
}

// ensureEmptyDir creates dir or checks that it has no entries, so that a
// mistyped -out never mixes a library into other data.
func ensureEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("output %s is not empty; choose a new folder", dir)
	}
	return nil
}

// writeFile writes f's content to p and sets its mtime (and atime). extra is
// OR-ed into the open flags (os.O_EXCL for a fresh library).
func writeFile(p string, f File, buf []byte, extra int) error {
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|extra, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	if err := writeContent(out, f, buf); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", p, err)
	}
	if err := os.Chtimes(p, f.ModTime, f.ModTime); err != nil {
		return fmt.Errorf("set mtime %s: %w", p, err)
	}
	return nil
}

type writer interface {
	Write([]byte) (int, error)
}

func writeContent(w writer, f File, buf []byte) error {
	if f.Text != nil {
		_, err := w.Write(f.Text)
		return err
	}
	state := mix(f.Seed) | 1
	for left := f.Size; left > 0; {
		n := min(int64(len(buf)), left)
		fill(buf[:n], &state)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

// setFolderTimes gives every folder a deterministic mtime: the newest mtime
// of the files in it (the library root: of all files).
func setFolderTimes(dir string, lib Library) error {
	newest := map[string]time.Time{}
	var all time.Time
	for _, f := range lib.Files {
		d := folderOf(f.Rel)
		if f.ModTime.After(newest[d]) {
			newest[d] = f.ModTime
		}
		if f.ModTime.After(all) {
			all = f.ModTime
		}
	}
	folders := append([]string(nil), lib.Folders...)
	sort.Strings(folders)
	for _, d := range folders {
		t := newest[d]
		if t.IsZero() {
			t = epoch
		}
		p := filepath.Join(dir, filepath.FromSlash(d))
		if err := os.Chtimes(p, t, t); err != nil {
			return fmt.Errorf("set mtime %s: %w", p, err)
		}
	}
	if all.IsZero() {
		all = epoch
	}
	if err := os.Chtimes(dir, all, all); err != nil {
		return fmt.Errorf("set mtime %s: %w", dir, err)
	}
	return nil
}

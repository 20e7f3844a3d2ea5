package saves

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// card lays out a card as a firmware does: the ROM root with romsyncd's
// marker, and save files written where the layout's firmware writes them.
type card struct {
	t      *testing.T
	root   string // card root
	target string // the profile's target (ROM root)
	layout string
}

func newCard(t *testing.T, root, layout, id string) *card {
	t.Helper()
	locs, err := Locations(layout)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, filepath.FromSlash(locs[0].Roms))
	meta := filepath.Join(target, cardstate.MetaDirName)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(cardstate.Marker{Profile: "handheld", ID: id, Created: time.Unix(1700000000, 0).UTC()})
	if err := os.WriteFile(filepath.Join(meta, cardstate.MarkerName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return &card{t: t, root: root, target: target, layout: layout}
}

// write writes a file at rel (below the card root) with an mtime.
func (c *card) write(rel, content string, mtime time.Time) {
	c.t.Helper()
	p := filepath.Join(c.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		c.t.Fatal(err)
	}
}

func (c *card) read(rel string) string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(rel)))
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

func (c *card) opts(backup string) Options {
	return Options{Target: c.target, Layout: c.layout, Backup: backup, States: true}
}

type fileSnap struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
	sum   string
}

// snapshot records every file and folder of a card: size, mtime and
// content hash (not the access time, which reading here changes).
func snapshot(t *testing.T, root string) map[string]fileSnap {
	t.Helper()
	out := map[string]fileSnap{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s := fileSnap{size: info.Size(), mtime: info.ModTime(), mode: info.Mode().Type()}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			s.sum = hex.EncodeToString(h[:])
		} else {
			s.size = 0 // a folder's size is the filesystem's business
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSame(t *testing.T, before, after map[string]fileSnap) {
	t.Helper()
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			t.Errorf("card: %s disappeared", p)
		case a.sum != b.sum || a.size != b.size:
			t.Errorf("card: %s changed content", p)
		case !a.mtime.Equal(b.mtime) && b.mode.IsRegular():
			t.Errorf("card: %s mtime %v, was %v", p, a.mtime, b.mtime)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("card: %s appeared", p)
		}
	}
}

func versionFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != IndexName && d.Name() != ".lock" {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func fmtInt(i int) string { return strconv.Itoa(i) }

// writeManifest records name in dir as installed by romsyncd.
func writeManifest(t *testing.T, target, dir string, names ...string) {
	t.Helper()
	f := &cardstate.Folder{Dir: dir, Files: map[string]*cardstate.Entry{}}
	for _, n := range names {
		f.Files[n] = &cardstate.Entry{Source: dir + "/" + n, SrcSize: 3, Target: cardstate.Version{Size: 3}}
	}
	if err := os.MkdirAll(filepath.Join(target, cardstate.MetaDirName, "folders"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cardstate.WriteManifest(filepath.Join(target, cardstate.MetaDirName), f, true); err != nil {
		t.Fatal(err)
	}
}

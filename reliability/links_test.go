package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLibrarySymlinks: links in the library. A link to a file inside the
// library is followed; a link outside it, a broken link, a link loop and
// a link to a folder (here: the library's parent, a cycle) are not
// followed and are reported; no run hangs.
func TestLibrarySymlinks(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	outside := filepath.Join(w.dir, "outside")
	mustMkdir(t, outside)
	secret := filepath.Join(outside, "secret.gba")
	if err := os.WriteFile(secret, []byte("not for the card"), 0o644); err != nil {
		t.Fatal(err)
	}
	real := w.putNew("GB", 5000)
	w.putNew("GBA", 3000)
	links := map[string]string{
		"GBA/inside.gba":     "../" + real,
		"GBA/outside.gba":    secret,
		"GBA/broken.gba":     "nowhere.gba",
		"GBA/self.gba":       "self.gba",
		"GBA/loop-a.gba":     "loop-b.gba",
		"GBA/loop-b.gba":     "loop-a.gba",
		"GBA/up":             "..",
		"GBA/root":           "/",
		"GBA/outside-folder": outside,
	}
	for rel, to := range links {
		if err := os.Symlink(to, w.lib.abs(rel)); err != nil {
			t.Fatal(err)
		}
	}
	// The inside link is a file of the library with its target's content.
	w.lib.h.mu.Lock()
	v := w.lib.h.cur[real]
	addTo(w.lib.h.versions, "GBA/inside.gba", v)
	w.lib.h.mu.Unlock()
	for run := 1; run <= 2; run++ {
		r := w.run(30*time.Second, "sync", "--json")
		noPanic(t, "sync", r)
		if !r.finished {
			t.Fatalf("run %d hung on the library's links\n%s", run, r.stderr)
		}
		if r.code > 1 || len(r.reports) != 1 {
			t.Fatalf("run %d: %v, want 0 or 1 with a report\n%s\n%s", run, r.exit, r.stdout, r.stderr)
		}
		got, err := hashFile(filepath.Join(w.target, "GBA", "inside.gba"))
		if err != nil || got != v {
			t.Errorf("run %d: the link inside the library was not mirrored as a file (%v %v)", run, got, err)
		}
		reasons := map[string]string{}
		for _, it := range r.reports[0].Skipped {
			reasons[it.Path] = it.Reason
		}
		for rel := range links {
			if rel == "GBA/inside.gba" {
				continue
			}
			if _, err := os.Lstat(filepath.Join(w.target, filepath.FromSlash(rel))); err == nil {
				t.Errorf("run %d: %s (a link to %s) is on the target", run, rel, links[rel])
			}
			if reasons[rel] == "" {
				t.Errorf("run %d: %s (a link to %s) is not reported as skipped with a reason (skipped: %v)", run, rel, links[rel], r.reports[0].Skipped)
			}
		}
		w.check("after the run", afterStop)
	}
	if data, _ := os.ReadFile(secret); string(data) != "not for the card" {
		t.Errorf("the file outside the library changed")
	}
}

// TestTargetSymlinks: links a user (or an attacker) put on the card.
// romsyncd must never write through them: not into a folder link that
// points outside the card, not into a file link, not into its own folder
// made a link, and never delete what a link points to.
func TestTargetSymlinks(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	outside := filepath.Join(w.dir, "outside-dir")
	mustMkdir(t, outside)
	private := filepath.Join(w.dir, "private-passwd")
	privateData := []byte("root:x:0:0:root:/root:/bin/bash\n")
	if err := os.WriteFile(private, privateData, 0o600); err != nil {
		t.Fatal(err)
	}
	privateInfo, _ := os.Stat(private)
	w.populate(libSpec{folders: []string{"GBA", "GB"}, small: 6})
	installed := w.putNew("GBA", 4000)
	doomed := w.putNew("GBA", 4100)
	w.sync("first mirror")
	w.tolerateKnown = true

	// A folder the library is about to get is a link out of the card.
	w.plantLink("SFC", outside)
	w.putNew("SFC", 2000)
	// A new library file's name is taken by a link to a private file.
	x := w.putNew("GBA", 3000)
	w.plantLink(x, private)
	// An installed file replaced by a link; the library then updates it.
	p := filepath.Join(w.target, filepath.FromSlash(installed))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	w.plantLink(installed, private)
	if err := w.lib.put(installed, content(w.rng.Uint64(), 4200)); err != nil {
		t.Fatal(err)
	}
	// An installed file replaced by a link; the library then deletes it.
	if err := os.Remove(filepath.Join(w.target, filepath.FromSlash(doomed))); err != nil {
		t.Fatal(err)
	}
	w.plantLink(doomed, private)
	if err := w.lib.remove(doomed); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ {
		r := w.run(time.Minute, "sync", "--json")
		noPanic(t, "sync", r)
		if !r.finished || r.code != 1 || len(r.reports) != 1 {
			t.Errorf("run %d: %v, want exit 1 (not everything mirrored) with a report\n%s\n%s", run, r.exit, r.stdout, r.stderr)
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) > 0 {
			t.Errorf("run %d: romsyncd wrote through the folder link SFC -> %s: %d entries there", run, outside, len(ents))
		}
		data, _ := os.ReadFile(private)
		fi, _ := os.Stat(private)
		if string(data) != string(privateData) || fi == nil || !fi.ModTime().Equal(privateInfo.ModTime()) {
			t.Errorf("run %d: romsyncd changed the private file a link on the card points to", run)
		}
		if len(r.reports) == 1 {
			mentioned := strings.Join(itemPaths(r.reports[0]), "\n")
			for _, rel := range []string{"SFC", x} {
				if !strings.Contains(mentioned, rel) {
					t.Errorf("run %d: %s (a link on the card) is not reported; reported: %s", run, rel, mentioned)
				}
			}
		}
		w.check("after the run", afterStop)
	}
}

// TestTargetMetaFolderLink: romsyncd's own folder on the card holds a link
// out of the card (`.romsyncd/folders`). romsyncd must not write its
// manifests through it.
func TestTargetMetaFolderLink(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	outside := filepath.Join(w.dir, "outside-manifests")
	w.populate(libSpec{folders: []string{"GBA"}, small: 4})
	w.sync("first mirror")
	folders := filepath.Join(w.target, ".romsyncd", "folders")
	// Move the manifests out of the card (another filesystem: copy).
	mustMkdir(t, outside)
	ents, err := os.ReadDir(folders)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(folders, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outside, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(folders); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, folders); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(outside)
	var names []string
	for _, e := range before {
		b, _ := os.ReadFile(filepath.Join(outside, e.Name()))
		names = append(names, e.Name()+"="+string(b))
	}
	w.putNew("GBA", 100)
	r := w.run(time.Minute, "sync", "--json")
	noPanic(t, "sync", r)
	after, _ := os.ReadDir(outside)
	var now []string
	for _, e := range after {
		b, _ := os.ReadFile(filepath.Join(outside, e.Name()))
		now = append(now, e.Name()+"="+string(b))
	}
	if strings.Join(now, "\n") != strings.Join(names, "\n") {
		t.Errorf("romsyncd wrote through the link .romsyncd/folders -> %s (%v)", outside, r.exit)
	}
}

func itemPaths(r report) []string {
	var out []string
	for _, list := range [][]item{r.Skipped, r.Errors, r.Conflicts} {
		for _, it := range list {
			out = append(out, it.Path+" "+it.Target+": "+it.Reason)
		}
	}
	return out
}

package cards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/mounts"
	"github.com/romsyncd/romsyncd/targetfs"
)

func TestRegistryRecordsACardsLife(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	r, err := OpenRegistry(state)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := r.Cards(); err != nil || len(recs) != 0 {
		t.Fatalf("new registry = %v, %v; want empty", recs, err)
	}
	t0 := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	c := Card{Profile: "miyoo", ID: "b2", Root: "/media/alice/MIYOO/Roms",
		Mount: mounts.Mount{MountInfo: targetfs.MountInfo{MountPoint: "/media/alice/MIYOO"}, Label: "MIYOO", UUID: "1A2B-3C4D"}}
	if err := r.Seen(c, 1000, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.InSync("b2", 900, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := r.Get("b2")
	want := Record{ID: "b2", Profile: "miyoo", Label: "MIYOO", UUID: "1A2B-3C4D", Folder: "Roms",
		LastSeen: t0.Add(time.Minute), LastInSync: t0.Add(time.Minute), FreeBytes: 900,
		MountedAt: "/media/alice/MIYOO", Root: "/media/alice/MIYOO/Roms"}
	if err != nil || !ok || rec != want {
		t.Fatalf("Get = %+v, %v, %v; want %+v", rec, ok, err, want)
	}
	// Pulled, then inserted again elsewhere (a second card took the label).
	if err := r.Gone("b2", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := r.Get("b2"); rec.MountedAt != "" || rec.LastInSync != t0.Add(time.Minute) {
		t.Errorf("after Gone: %+v", rec)
	}
	c.Mount.MountPoint, c.Root = "/media/alice/MIYOO1", "/media/alice/MIYOO1/Roms"
	if err := r.Seen(c, 900, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := r.Get("b2"); rec.MountedAt != "/media/alice/MIYOO1" || rec.LastInSync != t0.Add(time.Minute) {
		t.Errorf("after Seen again: %+v", rec)
	}
	// The file is the documented JSON, and no temp file is left.
	data, err := os.ReadFile(filepath.Join(state, RegistryName))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version int              `json:"version"`
		Cards   []map[string]any `json:"cards"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 || len(f.Cards) != 1 || f.Cards[0]["last_in_sync"] != "2026-11-29T04:01:00Z" {
		t.Errorf("registry file = %s (%v)", data, err)
	}
	ents, _ := os.ReadDir(state)
	for _, e := range ents {
		if e.Name() != RegistryName && e.Name() != "cards.lock" {
			t.Errorf("state dir holds %s", e.Name())
		}
	}
}

// TestRegistryConcurrentUpdates: updates from many writers (the daemon's
// runners, `romsyncd init`) all land.
func TestRegistryConcurrentUpdates(t *testing.T) {
	state := t.TempDir()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			r, err := OpenRegistry(state) // one Registry each, as two processes
			if err == nil {
				err = r.Seen(Card{Profile: "p", ID: fmt.Sprintf("id%02d", i)}, 0, time.Now())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r, _ := OpenRegistry(state)
	recs, err := r.Cards()
	if err != nil || len(recs) != n {
		t.Fatalf("registry holds %d cards (%v), want %d", len(recs), err, n)
	}
}

func TestRegistryRefusesWhatItCannotRead(t *testing.T) {
	for _, tt := range []struct{ content, want string }{
		{"{not json", "move it away"},
		{`{"version": 9, "cards": []}`, "newer than this romsyncd"},
	} {
		state := t.TempDir()
		if err := os.WriteFile(filepath.Join(state, RegistryName), []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		r, _ := OpenRegistry(state)
		if _, err := r.Cards(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Cards() of %q = %v, want %q", tt.content, err, tt.want)
		}
		if err := r.InSync("x", 0, time.Now()); err == nil {
			t.Errorf("InSync over %q succeeded; it must not overwrite a registry it cannot read", tt.content)
		}
	}
}

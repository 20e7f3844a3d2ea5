package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// TestInitCardAdoptsAMountedCard: `romsyncd init --card` takes the card
// mounted at /media/USER/LABEL, puts the profile's target in the layout's
// ROM folder on it, and `romsyncd cards` then lists the card as mounted
// there, with its filesystem UUID.
func TestInitCardAdoptsAMountedCard(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	card := testfs.ExFATAt(t, filepath.Join(dir, "media", "alice", "MIYOO"), "64M")
	miyoo := uniqueProfile("miyoo")
	writeTree(t, dir, map[string]string{
		"lib/Nintendo - Game Boy/Gamma (Japan).gb": "gamma\n",
		"config.yaml": "state_dir: state\nprofiles:\n" +
			"  - {name: " + miyoo + ", source: lib, layout: onion, cards: {adopt: [{label: MIYOO}]}}\n",
	})
	// The card already has the firmware's folder, spelled its own way.
	if err := os.MkdirAll(filepath.Join(card, "ROMS", "GB"), 0o755); err != nil {
		t.Fatal(err)
	}

	r := romsyncd(t, dir, "init", "--config", "config.yaml", "--profile", miyoo, "--card", card)
	root := filepath.Join(card, "ROMS")
	if r.code != 0 || !strings.Contains(r.stdout, miyoo+": target "+root+" is adopted") || r.stderr != "" {
		t.Fatalf("init --card: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, ".romsyncd", "marker")); err != nil {
		t.Fatalf("no marker in the card's ROM folder: %v", err)
	}

	r = romsyncd(t, dir, "cards", "--config", "config.yaml", "--json")
	if r.code != 0 {
		t.Fatalf("cards: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("cards --json = %s (%v), want one card", r.stdout, err)
	}
	row := rows[0]
	if row["profile"] != miyoo || row["mounted_now"] != card || row["folder"] != "ROMS" || row["id"] == "" {
		t.Errorf("card row = %v", row)
	}
	if _, err := exec.LookPath("blkid"); err == nil && row["uuid"] == nil {
		t.Errorf("card row has no filesystem UUID (blkid is installed): %v", row)
	}
	r = romsyncd(t, dir, "cards", "--config", "config.yaml")
	if !strings.Contains(r.stdout, card) {
		t.Errorf("cards does not show where the card is mounted:\n%s", r.stdout)
	}

	// Pulled: the registry still knows it, not mounted now.
	testfs.Unmount(t, card, false)
	r = romsyncd(t, dir, "cards", "--config", "config.yaml", "--json")
	if !strings.Contains(r.stdout, `"mounted_now": ""`) {
		t.Errorf("a pulled card is listed as mounted:\n%s", r.stdout)
	}
}

// TestSyncRunsOnTheMountedCardsOfAProfile: `romsyncd sync` of a profile
// with cards: passes over each of its cards mounted now, wherever; with
// none mounted it refuses (exit 3) and writes nothing.
func TestSyncRunsOnTheMountedCardsOfAProfile(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	miyoo := uniqueProfile("miyoo")
	writeTree(t, dir, map[string]string{
		"lib/Nintendo - Game Boy/Gamma (Japan).gb": "gamma\n",
		"config.yaml": "state_dir: state\nprofiles:\n  - {name: " + miyoo + ", source: lib, layout: onion, cards: {}}\n",
	})
	r := romsyncd(t, dir, "sync", "--config", "config.yaml")
	if r.code != 3 || !strings.Contains(r.stderr, "no card of this profile is mounted") {
		t.Fatalf("sync with no card: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	card := testfs.ExFATAt(t, filepath.Join(dir, "run", "media", "alice", "MIYOO1"), "64M")
	if r := romsyncd(t, dir, "init", "--config", "config.yaml", "--profile", miyoo, "--card", card); r.code != 0 {
		t.Fatalf("init --card: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = romsyncd(t, dir, "sync", "--config", "config.yaml")
	if r.code != 0 {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(card, "Roms", "GB", "Gamma (Japan).gb"))
	if err != nil || string(data) != "gamma\n" {
		t.Fatalf("the card's ROM: %q, %v", data, err)
	}
}

// uniqueProfile names a profile of cards for one test: a card is found by
// its marker anywhere on the machine, so tests that run at once (go test
// runs packages in parallel) must not share a profile name.
func uniqueProfile(base string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base + "-" + hex.EncodeToString(b[:])
}

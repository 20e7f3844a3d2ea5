package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"golang.org/x/sys/unix"
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

// TestSyncTwoCardsAtOnce: `romsyncd sync` over a cards profile with two
// cards mounted syncs them together (each library file read from the disk
// once, see sync.Share) and leaves no library file in the page cache.
func TestSyncTwoCardsAtOnce(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	miyoo := uniqueProfile("miyoo")
	files := map[string]string{
		"config.yaml": "state_dir: state\nprofiles:\n  - {name: " + miyoo + ", source: lib, layout: onion, cards: {}}\n",
	}
	for i := range 8 {
		files[fmt.Sprintf("lib/Nintendo - Game Boy/Game %d (Japan).gb", i)] = strings.Repeat(fmt.Sprint(i), 512<<10)
	}
	writeTree(t, dir, files)
	var cardRoots []string
	for _, label := range []string{"MIYOO", "SPARE"} {
		card := testfs.ExFATAt(t, filepath.Join(dir, "media", "alice", label), "64M")
		if r := romsyncd(t, dir, "init", "--config", "config.yaml", "--profile", miyoo, "--card", card); r.code != 0 {
			t.Fatalf("init --card %s: exit %d\n%s%s", card, r.code, r.stdout, r.stderr)
		}
		cardRoots = append(cardRoots, card)
	}
	unix.Sync() // dirty pages cannot be dropped: the library is on the disk
	r := romsyncd(t, dir, "sync", "--config", "config.yaml")
	if r.code != 0 {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, miyoo+": 8 copied"); n != 2 {
		t.Fatalf("want two reports of 8 copies, got %d:\n%s", n, r.stdout)
	}
	for _, card := range cardRoots {
		for i := range 8 {
			name := fmt.Sprintf("Game %d (Japan).gb", i)
			data, err := os.ReadFile(filepath.Join(card, "Roms", "GB", name))
			if err != nil || string(data) != files["lib/Nintendo - Game Boy/"+name] {
				t.Fatalf("%s on %s: %d bytes, %v", name, card, len(data), err)
			}
		}
	}
	for i := range 8 {
		p := filepath.Join(dir, "lib", "Nintendo - Game Boy", fmt.Sprintf("Game %d (Japan).gb", i))
		if n := cachedPages(t, p); n != 0 {
			t.Errorf("%s: %d pages left in the page cache", p, n)
		}
	}
}

// cachedPages reports how many of the file's pages are in the page cache.
func cachedPages(t *testing.T, p string) int {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	vec := make([]byte, (len(data)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

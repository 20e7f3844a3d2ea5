package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstart runs the README's quickstart,
// `go run ./cmd/romsyncd sync --config examples/config.yaml`, with the
// built binary on a copy of examples/ (the repository's examples/out is
// never written): the first pass mirrors the 16 games of examples/library
// into out/sd/Roms the Onion way, the second has nothing to do.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	examples := filepath.Join("..", "..", "examples")
	copyTree(t, filepath.Join(examples, "library"), filepath.Join(dir, "examples", "library"))
	copyTree(t, filepath.Join(examples, "config.yaml"), filepath.Join(dir, "examples", "config.yaml"))

	res := romsyncd(t, dir, "sync", "--config", "examples/config.yaml")
	if res.code != 0 {
		t.Fatalf("first run: exit %d, want 0", res.code)
	}
	if !strings.Contains(res.stdout, "example: 16 copied (") || !strings.Contains(res.stdout, "— in sync") {
		t.Errorf("first run: want 16 copied, in sync; stdout:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "\r") {
		t.Errorf("progress drawn while stdout is not a terminal: %q", res.stdout)
	}

	// Every library file is on the card, in its Onion folder, byte for byte.
	onion := map[string]string{
		"Nintendo - Game Boy Advance":                    "GBA",
		"Nintendo - Game Boy":                            "GB",
		"Nintendo - Super Nintendo Entertainment System": "SFC",
		"Sega - Mega Drive - Genesis":                    "MD",
	}
	lib, card := filepath.Join(dir, "examples", "library"), filepath.Join(dir, "examples", "out", "sd", "Roms")
	n := 0
	err := filepath.WalkDir(lib, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(lib, p)
		platform, name, _ := strings.Cut(rel, string(filepath.Separator))
		folder, ok := onion[platform]
		if !ok {
			t.Errorf("library folder %q has no Onion folder in this test", platform)
			return nil
		}
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(card, folder, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s on the card: %v (or content differs)", filepath.Join(folder, name), err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 16 {
		t.Errorf("examples/library holds %d files, the quickstart promises 16", n)
	}
	if _, err := os.Stat(filepath.Join(card, ".romsyncd", "marker")); err != nil {
		t.Errorf("no marker on the card: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "examples", "out", "state", "example.target")); err != nil {
		t.Errorf("no first-pass state in the config's state_dir: %v", err)
	}

	res = romsyncd(t, dir, "sync", "--config", "examples/config.yaml")
	if res.code != 0 || !strings.Contains(res.stdout, "example: 0 copied (0 B, 0 replaced), 0 renamed, 0 deleted, 16 unchanged") {
		t.Errorf("second run: exit %d, want 0 with 0 copied, 16 unchanged; stdout:\n%s", res.code, res.stdout)
	}
}

// copyTree copies the file or folder src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

package platform

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestFormatLayouts(t *testing.T) {
	var b bytes.Buffer
	if err := FormatLayouts(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "layouts.golden", b.Bytes())
}

func TestFormatTable(t *testing.T) {
	tests := []struct {
		golden string
		o      Options
	}{
		{"table-onion.golden", Options{Layout: "onion"}},
		{"table-mister.golden", Options{Layout: "mister"}},
		{"table-pocket-only.golden", Options{Layout: "pocket", Only: []string{"gb", "gbc", "gba", "sgfx", "pce"}}},
		{"table-overrides.golden", Options{Overrides: map[string]string{"gb": "Game Boy", "gbc": "game boy"}}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := FormatTable(&b, mustLayout(t, tt.o)); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.TrimRight(line, " ") != line {
					t.Errorf("line %q has trailing spaces", line)
				}
			}
			checkGolden(t, tt.golden, b.Bytes())
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFormatErrors(t *testing.T) {
	if err := FormatLayouts(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("FormatLayouts to a failing writer: %v, want the write error", err)
	}
	err := FormatTable(failWriter{}, mustLayout(t, Options{Layout: "onion"}))
	if err == nil || !strings.Contains(err.Error(), "format layout table onion: disk full") {
		t.Errorf("FormatTable to a failing writer: %v, want the write error", err)
	}
	if err := FormatTable(&bytes.Buffer{}, nil); err == nil {
		t.Error("FormatTable(nil layout) succeeded")
	}
}

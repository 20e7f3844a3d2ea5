package status

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestFormatStatusGolden(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   []ProfileStatus
	}{
		{"empty", nil},
		{"profiles", []ProfileStatus{{
			Name: "gba", State: StateInSync, Target: "/media/sd", DirtyFolders: 0,
			LastPass: now.Add(-3 * time.Minute), LastPassDuration: 1234 * time.Millisecond, Watches: 40,
		}, {
			Name: "ps2", State: StateSyncing, Target: "/media/usb", DirtyFolders: 12, QueuedBytes: 17_500_000_000,
			LastPass: now.Add(-26 * time.Hour), LastPassDuration: 754 * time.Second, Watches: 8000, Polled: 1200,
		}, {
			Name: "snes", State: StatePausedOffline, Target: "/media/card2",
			LastError: "copy Chrono Trigger (USA).sfc:\ninput/output error", Offline: "no .romsyncd marker; insert the card or run `romsyncd init`",
			LastPass: now.Add(-30 * time.Second), LastPassDuration: 80 * time.Millisecond,
		}, {
			Name: "new", State: StateStarting, Target: "/mnt/sd", DirtyFolders: -1,
		}, {
			Name: "onion", State: StateNotInSync, Target: "/media/alice/ONION/Roms",
			LastError: "1 conflict(s); see `romsyncd status --verbose`",
			LastPass:  now.Add(-time.Minute), LastPassDuration: 300 * time.Millisecond,
			Conflicts: []Problem{{Path: "GB/b.gb", Reason: "a file romsyncd did not install is in the way"}},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := FormatStatus(&buf, tc.st, now); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "format-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("FormatStatus:\n%s\nwant (%s):\n%s", buf.Bytes(), golden, want)
			}
		})
	}
}

func TestAgoAndDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "just now"}, // clock moved back
		{500 * time.Millisecond, "just now"},
		{59 * time.Second, "59s ago"},
		{3*time.Minute + 59*time.Second, "3m ago"},
		{47 * time.Hour, "47h ago"},
		{72 * time.Hour, "3d ago"},
	} {
		if got := ago(tc.d); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{80 * time.Millisecond, "80ms"},
		{1234 * time.Millisecond, "1.2s"},
		{754 * time.Second, "12m34s"},
		{3*time.Hour + 500*time.Millisecond, "3h0m1s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestFormatProblems(t *testing.T) {
	var buf bytes.Buffer
	err := FormatProblems(&buf, []ProfileStatus{{Name: "onion",
		Conflicts: []Problem{{Path: "GB/b.gb", Reason: "in the way"}},
		Skipped:   []Problem{{Path: "PS/big.bin", Reason: "does not fit:\nneeds 5.0 GiB"}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "\nonion: conflict GB/b.gb: in the way\nonion: skipped PS/big.bin: does not fit: needs 5.0 GiB\n"
	if buf.String() != want {
		t.Errorf("FormatProblems = %q, want %q", buf.String(), want)
	}
}

package platform

import (
	"strings"
	"testing"
)

func TestHabitsLoad(t *testing.T) {
	if _, err := loadHabits(); err != nil {
		t.Fatal(err)
	}
}

func TestUnzip(t *testing.T) {
	tests := []struct {
		layout, folder string
		want           bool
	}{
		{"pocket", "Nintendo - Game Boy", true},
		{"pocket", "GBA", true},
		{"pocket", "Nintendo - Satellaview", true},
		{"pocket", "SNK - Neo Geo", false}, // arcade: romsets
		{"pocket", "MAME", false},
		{"pocket", "CPS1", false}, // a variant of mame
		{"pocket", "My Homebrew", false},
		{"onion", "Nintendo - Game Boy", false},
		{"", "Nintendo - Game Boy", false},
	}
	for _, tc := range tests {
		l, err := NewLayout(Options{Layout: tc.layout})
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Unzip(tc.folder); got != tc.want {
			t.Errorf("layout %q: Unzip(%q) = %v, want %v", tc.layout, tc.folder, got, tc.want)
		}
	}
	l, err := NewLayout(Options{Layout: "pocket", Only: []string{"gba"}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Unzip("Nintendo - Game Boy") {
		t.Error("Unzip of a platform Only leaves out")
	}
}

func TestGameFolders(t *testing.T) {
	for folder, want := range map[string]bool{"MS-DOS": true, "Microsoft - MS-DOS": true, "ScummVM": true, "GBA": false, "Games": false} {
		if got := GameFolders(folder); got != want {
			t.Errorf("GameFolders(%q) = %v, want %v", folder, got, want)
		}
	}
}

func TestParseHabitsRejects(t *testing.T) {
	c := mustCatalog()
	head := "platform\tlayout\thabit\tsource\n"
	for name, body := range map[string]string{
		"unknown platform": "nosuch\tpocket\tunzip\tx\n",
		"unknown layout":   "gb\tnosuch\tunzip\tx\n",
		"layout alias":     "gb\tknulli\tunzip\tx\n",
		"unknown habit":    "gb\tpocket\tmelt\tx\n",
		"no source":        "gb\tpocket\tunzip\t\n",
		"duplicate":        "gb\tpocket\tunzip\tx\ngb\tpocket\tunzip\ty\n",
		"arcade unzipped":  "mame\t*\tarcade\tx\nmame\tpocket\tunzip\tx\n",
		"variant unzipped": "mame\t*\tarcade\tx\ncps1\tpocket\tunzip\tx\n",
	} {
		if _, err := parseHabits(c, head+body); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	if _, err := parseHabits(c, strings.TrimPrefix(head, "platform")); err == nil {
		t.Error("bad header: parsed without error")
	}
}

package platform

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustLayout(t *testing.T, o Options) *Layout {
	t.Helper()
	l, err := NewLayout(o)
	if err != nil {
		t.Fatalf("NewLayout(%+v): %v", o, err)
	}
	return l
}

type mapCase struct {
	folder, target, id string
	ok                 bool
	reason             string
}

func checkMap(t *testing.T, l *Layout, tt mapCase) {
	t.Helper()
	target, id, ok, reason := l.Map(tt.folder)
	if target != tt.target || id != tt.id || ok != tt.ok || reason != tt.reason {
		t.Errorf("%s Map(%q) = %q, %q, %v, %q; want %q, %q, %v, %q",
			l.Name(), tt.folder, target, id, ok, reason, tt.target, tt.id, tt.ok, tt.reason)
	}
}

func TestMapLayouts(t *testing.T) {
	tests := []struct {
		layout string
		cases  []mapCase
	}{
		{"onion", []mapCase{
			{"Nintendo - Game Boy Advance", "GBA", "gba", true, ""},
			{"Nintendo - Nintendo Entertainment System", "FC", "nes", true, ""},
			{"Sega - Mega Drive - Genesis", "MD", "md", true, ""},
			{"SNK - Neo Geo Pocket", "NGP", "ngp", true, ""},
			{"SNK - Neo Geo Pocket Color", "NGP", "ngpc", true, ""},
			{"psx", "PS", "psx", true, ""},
			{"Nintendo - Nintendo 64", "Nintendo - Nintendo 64", "n64", true, ""}, // unknown: keep
			{"Holiday Photos", "Holiday Photos", "", true, ""},
		}},
		{"mister", []mapCase{
			{"gb", "Gameboy", "gb", true, ""},
			{"Game Boy Color", "Gameboy", "gbc", true, ""},
			{"Sega - Game Gear", "SMS", "gg", true, ""},
			{"Sega - Mega Drive - Genesis", "Genesis", "md", true, ""},
			{"Sega - Mega-CD - Sega CD", "MegaCD", "segacd", true, ""},
		}},
		{"pocket", []mapCase{
			{"Nintendo - Game Boy Advance", "Assets/gba/common", "gba", true, ""},
			{"NEC - PC Engine SuperGrafx", "Assets/pce/common", "sgfx", true, ""},
			{"Sony - PlayStation", "Sony - PlayStation", "psx", true, ""}, // unknown: keep
		}},
		{"minui", []mapCase{
			{"GBA", "Game Boy Advance (GBA)", "gba", true, ""},
			{"pokemini", "Pokémon mini (PKM)", "pokemini", true, ""},
		}},
		{"romm", []mapCase{
			{"Nintendo - GameCube", "ngc", "gc", true, ""},
			{"Sega - 32X", "sega32", "32x", true, ""},
		}},
		{"es", []mapCase{
			{"Sega - Mega-CD - Sega CD", "segacd", "segacd", true, ""},
			{"megacdjp", "megacdjp", "megacdjp", true, ""},
			{"megadrivejp", "megadrivejp", "megadrivejp", true, ""},
			{"Sega Mega Drive (Japan)", "megadrivejp", "megadrivejp", true, ""},
			{"Sega - Mega Drive - Genesis", "genesis", "md", true, ""},
		}},
		{"knulli", []mapCase{{"Sega Genesis", "megadrive", "md", true, ""}}},
		{"JELOS", []mapCase{{"PC Engine CD", "pcenginecd", "pcecd", true, ""}, {"TurboGrafx-CD", "tg16cd", "tgcd", true, ""}}},
		{"muos", []mapCase{{"Sega - Master System - Mark III", "sms", "sms", true, ""}}},
		{"funkeyos", []mapCase{{"Nintendo - Game Boy", "Game Boy", "gb", true, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.layout, func(t *testing.T) {
			l := mustLayout(t, Options{Layout: tt.layout})
			for _, c := range tt.cases {
				checkMap(t, l, c)
			}
		})
	}
}

func TestLayoutNames(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"onion", "onion"}, {" Onion ", "onion"}, {"knulli", "batocera"}, {"JELOS", "rocknix"},
		{"es-de", "es"}, {"EmulationStation", "es"},
	} {
		if got := mustLayout(t, Options{Layout: tt.in}).Name(); got != tt.want {
			t.Errorf("NewLayout(%q).Name() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMapNoLayout(t *testing.T) {
	l := mustLayout(t, Options{Overrides: map[string]string{"GBA": "Advance"}, Unknown: UnknownSkip})
	for _, tt := range []mapCase{
		{"Nintendo - Game Boy", "Nintendo - Game Boy", "gb", true, ""},
		{"Nintendo - Game Boy Advance", "Advance", "gba", true, ""},
		{"Nintendo - Nintendo 64", "Nintendo - Nintendo 64", "n64", true, ""},
		{"Holiday Photos", "", "", false, `no platform matches "Holiday Photos"`},
	} {
		checkMap(t, l, tt)
	}
	if got, want := l.Table(), []Row{{"gba", "Nintendo - Game Boy Advance", "Advance"}}; !slices.Equal(got, want) {
		t.Errorf("Table() = %v, want %v", got, want)
	}
}

func TestMapOnly(t *testing.T) {
	l := mustLayout(t, Options{Layout: "onion", Only: []string{"Game Boy", "gbc", "Sega Genesis"}})
	for _, tt := range []mapCase{
		{"Nintendo - Game Boy", "GB", "gb", true, ""},
		{"GBC", "GBC", "gbc", true, ""},
		{"Mega Drive", "MD", "megadrive", true, ""},
		{"megadrivejp", "MD", "megadrivejp", true, ""},
		{"Nintendo - Game Boy Advance", "", "gba", false, "Nintendo - Game Boy Advance is not selected (only gb, gbc, md)"},
		{"Holiday Photos", "", "", false, `no platform matches "Holiday Photos" and only gb, gbc, md are selected`},
	} {
		checkMap(t, l, tt)
	}
	var ids []string
	for _, r := range l.Table() {
		ids = append(ids, r.ID)
	}
	if want := []string{"gb", "gbc", "md", "megadrive", "megadrivejp"}; !slices.Equal(ids, want) {
		t.Errorf("Table() ids = %v, want %v", ids, want)
	}

	// Only with no layout still filters.
	l = mustLayout(t, Options{Only: []string{"gba"}})
	checkMap(t, l, mapCase{"GBA", "GBA", "gba", true, ""})
	checkMap(t, l, mapCase{"gb", "", "gb", false, "Nintendo - Game Boy is not selected (only gba)"})
}

func TestMapUnknownAndInvalid(t *testing.T) {
	keep := mustLayout(t, Options{Layout: "mister"})
	skip := mustLayout(t, Options{Layout: "mister", Unknown: UnknownSkip})
	checkMap(t, keep, mapCase{"Sony - PlayStation 5", "Sony - PlayStation 5", "", true, ""})
	checkMap(t, skip, mapCase{"Sony - PlayStation 5", "", "", false, `no platform matches "Sony - PlayStation 5"`})
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b"} {
		checkMap(t, keep, mapCase{bad, "", "", false, `invalid folder name "` + strings.ReplaceAll(bad, "\x00", `\x00`) + `"`})
	}
}

func TestMapOverrides(t *testing.T) {
	l := mustLayout(t, Options{Layout: "pocket", Overrides: map[string]string{
		"PlayStation": "psx_fpga", // a platform with no pocket folder
		"Game Boy":    "gb2",
		"gb":          "gb2", // same platform, same folder: fine
	}})
	checkMap(t, l, mapCase{"Sony - PlayStation", "Assets/psx_fpga/common", "psx", true, ""})
	checkMap(t, l, mapCase{"Nintendo - Game Boy", "Assets/gb2/common", "gb", true, ""})
	checkMap(t, l, mapCase{"Nintendo - Game Boy Color", "Assets/gbc/common", "gbc", true, ""})

	l = mustLayout(t, Options{Layout: "onion", Overrides: map[string]string{"n64": "N64"}})
	checkMap(t, l, mapCase{"Nintendo - Nintendo 64", "N64", "n64", true, ""})
}

func TestNewLayoutErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		is   error
		want []string
	}{
		{"unknown layout", Options{Layout: "miyoo"}, ErrUnknownLayout,
			[]string{`layout "miyoo": unknown device layout; valid layouts: adam, batocera (knulli), crossmix, es (es-de, esde, emulationstation),`, "onion", "twmenu"}},
		{"unknown only", Options{Layout: "onion", Only: []string{"gba", "Nintendo - Virtual Boy 2"}}, ErrUnknownPlatform,
			[]string{`only "Nintendo - Virtual Boy 2": unknown platform`}},
		{"unknown override", Options{Overrides: map[string]string{"ps5": "PS5"}}, ErrUnknownPlatform,
			[]string{`override "ps5": unknown platform`}},
		{"empty override", Options{Overrides: map[string]string{"gba": ""}}, ErrInvalidFolder,
			[]string{`override "gba" folder "": invalid folder name: empty`}},
		{"dot override", Options{Overrides: map[string]string{"gba": "."}}, ErrInvalidFolder,
			[]string{`override "gba" folder ".": invalid folder name: is .`}},
		{"dotdot override", Options{Overrides: map[string]string{"gba": ".."}}, ErrInvalidFolder,
			[]string{`invalid folder name: is ..`}},
		{"slash override", Options{Layout: "onion", Overrides: map[string]string{"gba": "Roms/GBA"}}, ErrInvalidFolder,
			[]string{`override "gba" folder "Roms/GBA": invalid folder name: contains a path separator`}},
		{"fat override", Options{Overrides: map[string]string{"gba": "GBA?"}}, ErrInvalidFolder,
			[]string{"FAT and exFAT reject"}},
		{"clashing overrides", Options{Overrides: map[string]string{"gba": "A", "Game Boy Advance": "B"}}, ErrOverrideClash,
			[]string{`overrides "Game Boy Advance" and "gba" both name gba: conflicting overrides: "B" and "A"`}},
		{"bad unknown policy", Options{Unknown: Unknown(7)}, nil,
			[]string{"unknown-folder policy 7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLayout(tt.o)
			if err == nil {
				t.Fatalf("NewLayout(%+v) = %v, want an error", tt.o, l)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestTable(t *testing.T) {
	rows := mustLayout(t, Options{Layout: "onion"}).Table()
	if !slices.IsSortedFunc(rows, func(a, b Row) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Table() is not sorted by ID")
	}
	byID := map[string]Row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	if got, want := byID["gba"], (Row{"gba", "Nintendo - Game Boy Advance", "GBA"}); got != want {
		t.Errorf("gba row = %+v, want %+v", got, want)
	}
	for _, id := range []string{"n64", "ps2", "psp", "saturn"} {
		if r, ok := byID[id]; ok {
			t.Errorf("onion table lists %s (%+v), which has no onion folder", id, r)
		}
	}
	for _, r := range mustLayout(t, Options{Layout: "pocket"}).Table() {
		if !strings.HasPrefix(r.Folder, "Assets/") || !strings.HasSuffix(r.Folder, "/common") {
			t.Errorf("pocket row %+v: want Assets/<x>/common", r)
		}
	}
}

func TestSharedFolders(t *testing.T) {
	tests := []struct {
		o    Options
		want map[string][]string
	}{
		{Options{Layout: "mister"}, map[string][]string{
			"Amiga": {"amiga", "amiga1200", "amiga600"}, "Gameboy": {"gb", "gbc"}, "Genesis": {"md", "megadrive", "megadrivejp"},
			"MSX1": {"msx", "msx1"}, "MegaCD": {"megacd", "megacdjp", "segacd"}, "NES": {"famicom", "fds", "nes"},
			"NeoGeo": {"neocd", "neogeo", "neogeocdjp"}, "Odyssey2": {"odyssey2", "videopac"}, "S32X": {"32x", "sega32xjp", "sega32xna"},
			"SMS": {"gg", "multivision", "sg1000", "sms"}, "SNES": {"satellaview", "sfc", "snes", "snesna"}, "Saturn": {"saturn", "saturnjp"},
			"TGFX16": {"pce", "pcengine", "sgfx"}, "TGFX16-CD": {"pcecd", "tgcd"}, "WonderSwan": {"ws", "wsc"},
		}},
		{Options{Layout: "onion", Only: []string{"gb", "gbc", "md", "msx", "msx2", "ngp", "ngpc", "ws", "wsc"}}, map[string][]string{
			"MD": {"md", "megadrive", "megadrivejp"}, "MSX": {"msx", "msx1", "msx2"}, "NGP": {"ngp", "ngpc"}, "WS": {"ws", "wsc"},
		}},
		{Options{Layout: "onion", Only: []string{"ngp", "ws"}}, map[string][]string{}},
		{Options{Layout: "es"}, map[string][]string{}},
		{Options{Layout: "onion", Only: []string{"gb", "gbc", "ws", "wsc"}, Overrides: map[string]string{"gbc": "gb"}}, map[string][]string{
			"GB": {"gb", "gbc"}, "WS": {"ws", "wsc"},
		}},
		{Options{Overrides: map[string]string{"gb": "Handhelds", "gba": "handhelds"}}, map[string][]string{
			"Handhelds": {"gb", "gba"},
		}},
	}
	for _, tt := range tests {
		l := mustLayout(t, tt.o)
		got := l.SharedFolders()
		if !maps.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("%+v: SharedFolders() = %v, want %v", tt.o, got, tt.want)
		}
		for k := range got {
			got[k] = nil
		}
		if again := l.SharedFolders(); !maps.EqualFunc(again, tt.want, slices.Equal) {
			t.Errorf("%+v: changing SharedFolders()'s result changed the layout: %v", tt.o, again)
		}
	}
}

func TestLayoutConcurrentUse(t *testing.T) {
	l := mustLayout(t, Options{Layout: "onion", Only: []string{"gb", "gba"}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if target, _, ok, _ := l.Map("Nintendo - Game Boy"); !ok || target != "GB" {
					t.Errorf("Map = %q, %v; want GB", target, ok)
					return
				}
				l.Table()
				l.SharedFolders()
				Lookup("GBA")
			}
		})
	}
	wg.Wait()
}

// TestPlatformWithoutLayoutFolder: a platform the catalog knows but the
// layout has no folder for (PS2 on Onion) is kept under its library name
// with unknown: keep, the default, and skipped with unknown: skip, the
// reason naming the override to set (issue 10, point 6).
func TestPlatformWithoutLayoutFolder(t *testing.T) {
	keep := mustLayout(t, Options{Layout: "onion"})
	checkMap(t, keep, mapCase{"Sony - PlayStation 2", "Sony - PlayStation 2", "ps2", true, ""})
	skip := mustLayout(t, Options{Layout: "onion", Unknown: UnknownSkip})
	checkMap(t, skip, mapCase{"Sony - PlayStation 2", "", "ps2", false,
		"no onion folder for Sony - PlayStation 2 (unknown: skip); set platforms: {ps2: FOLDER} to choose one"})
	chosen := mustLayout(t, Options{Layout: "onion", Unknown: UnknownSkip, Overrides: map[string]string{"ps2": "PS2"}})
	checkMap(t, chosen, mapCase{"Sony - PlayStation 2", "PS2", "ps2", true, ""})
}

package saves

import (
	"strings"
	"testing"
)

func TestLocationsCatalogParsesAndCites(t *testing.T) {
	all, err := loadLocations()
	if err != nil {
		t.Fatal(err)
	}
	layouts := map[string]map[Kind]bool{}
	for _, l := range all {
		if l.Source == "" || !strings.Contains(l.Source, "@") {
			t.Errorf("locations.tsv:%d (%s %s): no source cited", l.Line, l.Layout, l.Kind)
		}
		if layouts[l.Layout] == nil {
			layouts[l.Layout] = map[Kind]bool{}
		}
		layouts[l.Layout][l.Kind] = true
	}
	if len(layouts) < 8 {
		t.Errorf("the catalog covers %d layouts, want at least 8: %v", len(layouts), Layouts())
	}
	for name, kinds := range layouts {
		if !kinds[KindSave] {
			t.Errorf("layout %s: no in-game save location", name)
		}
	}
}

func TestLocationsByAlias(t *testing.T) {
	for alias, want := range map[string]string{"knulli": "batocera", "jelos": "rocknix", "Onion": "onion"} {
		ls, err := Locations(alias)
		if err != nil {
			t.Fatalf("%s: %v", alias, err)
		}
		if ls[0].Layout != want {
			t.Errorf("%s: layout %s, want %s", alias, ls[0].Layout, want)
		}
	}
	if _, err := Locations("twmenu"); err == nil {
		t.Error("twmenu: want ErrNoLocations")
	}
}

func TestParseLocationRejects(t *testing.T) {
	good := []string{"onion", "Roms", "save", "Saves/x/<core>", "*.srm", "rom", "a/b@0123abcd path"}
	if _, err := parseLocation(good); err != nil {
		t.Fatalf("good row: %v", err)
	}
	for _, tc := range []struct {
		col  int
		val  string
		desc string
	}{
		{0, "nosuch", "unknown layout"},
		{0, "knulli", "an alias, not the canonical name"},
		{2, "sram", "kind"},
		{3, "Saves/<core>/x", "placeholder not last"},
		{3, "<core>", "no base"},
		{3, "/abs/<core>", "absolute"},
		{4, "srm", "pattern without *."},
		{5, "title", "game mode"},
		{6, "", "no source"},
		{6, "somewhere on the web", "source without repo@commit"},
	} {
		row := append([]string(nil), good...)
		row[tc.col] = tc.val
		if _, err := parseLocation(row); err == nil {
			t.Errorf("%s (%q): accepted", tc.desc, tc.val)
		}
	}
}

func TestLocationMatch(t *testing.T) {
	tests := []struct {
		layout Kind
		lay    string
		name   string
		game   string
		ok     bool
	}{
		{KindSave, "onion", "Pokemon - Red Version (USA, Europe).srm", "Pokemon - Red Version (USA, Europe)", true},
		{KindState, "onion", "Tetris (World).state3", "Tetris (World)", true},
		{KindState, "onion", "Tetris (World).state.auto", "Tetris (World)", true},
		{KindState, "onion", "Tetris (World).state", "Tetris (World)", true},
		{KindSave, "onion", "Tetris (World).gb", "", false},
		{KindSave, "minui", "Tetris (World).gb.sav", "Tetris (World)", true},
		{KindState, "minui", "Tetris (World).gb.st0", "Tetris (World)", true},
		{KindSave, "minui", "Super Mario Bros. 3.nes.SAV", "Super Mario Bros. 3", true},
		{KindState, "mister", "Sonic_2.ss", "Sonic", true},
		{KindSave, "mister", "Sonic_2.sav", "Sonic_2", true},
	}
	for _, tc := range tests {
		ls, err := Locations(tc.lay)
		if err != nil {
			t.Fatal(err)
		}
		var loc Location
		for _, l := range ls {
			if l.Kind == tc.layout {
				loc = l
			}
		}
		game, ok := loc.Match(tc.name)
		if ok != tc.ok || game != tc.game {
			t.Errorf("%s %s %q: got %q %v, want %q %v", tc.lay, tc.layout, tc.name, game, ok, tc.game, tc.ok)
		}
	}
}

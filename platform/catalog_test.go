package platform

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedCatalogParses(t *testing.T) {
	text, err := withVariants(catalogTSV, variantsTSV)
	if err != nil {
		t.Fatalf("embedded variants: %v", err)
	}
	c, err := parseCatalog(text, layoutsTSV)
	if err != nil {
		t.Fatalf("embedded catalog: %v", err)
	}
	if got := len(c.platforms); got < 38 {
		t.Errorf("catalog has %d platforms, want at least the 38 reference rows", got)
	}
}

func TestLayouts(t *testing.T) {
	want := []string{"adam", "batocera", "crossmix", "es", "funkeyos", "minui", "mister", "mister-mgl", "miyoocfw",
		"muos", "onion", "pocket", "retrodeck", "rocknix", "romm", "spruce", "twmenu"}
	if got := Layouts(); !slices.Equal(got, want) {
		t.Errorf("Layouts() = %v, want %v", got, want)
	}
}

func TestCatalogSortedAndCopied(t *testing.T) {
	ps := Catalog()
	if !slices.IsSortedFunc(ps, func(a, b Platform) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatal("Catalog() is not sorted by ID")
	}
	for _, p := range ps {
		if p.ID == "gba" {
			p.Folders["onion"] = "changed"
			p.Aliases[0] = "changed"
		}
	}
	p, ok := Lookup("gba")
	if !ok || p.Folders["onion"] != "GBA" || p.Aliases[0] == "changed" {
		t.Errorf("changing Catalog()'s result changed the catalog: %+v", p)
	}
}

// family is the platform a platform is a variant of, or the platform itself.
func family(p Platform) string {
	if p.Parent != "" {
		return p.Parent
	}
	return p.ID
}

// TestSharedDeviceKeys pins every device folder key that platforms of two
// or more families share (a platform and its variants sharing a folder is
// the point of a variant), and the platform the catalog's aliases make it
// mean.
func TestSharedDeviceKeys(t *testing.T) {
	c := mustCatalog()
	claims := map[string]map[string]bool{} // key -> families
	for _, p := range c.platforms {
		for _, f := range p.Folders {
			k := key(f)
			if claims[k] == nil {
				claims[k] = map[string]bool{}
			}
			claims[k][family(p)] = true
		}
	}
	got := map[string]string{}
	for k, fams := range claims {
		if len(fams) > 1 {
			got[k+" "+strings.Join(slices.Sorted(maps.Keys(fams)), ",")] = c.platforms[c.keys[k]].ID
		}
	}
	want := map[string]string{
		"gameboy gb,gbc":                 "gb",
		"gb gb,gbc,sgb":                  "gb",
		"sms gg,sg1000,sms":              "sms",
		"neogeo neocd,neogeo":            "neogeo",
		"ngp ngp,ngpc":                   "ngp",
		"neogeopocket ngp,ngpc":          "ngp",
		"nes fds,nes":                    "nes",
		"tgfx16 pce,sgfx":                "pce",
		"pce pce,pcecd,sgfx":             "pce",
		"smd md,segacd":                  "md",
		"ws ws,wsc":                      "ws",
		"wonderswan ws,wsc":              "ws",
		"wswan ws,wsc":                   "ws",
		"wsc ws,wsc":                     "wsc",
		"msx msx,msx2":                   "msx",
		"snes satellaview,snes":          "snes",
		"ngc gc,ngpc":                    "gc",
		"pc dos,pc":                      "pc",
		"videopac odyssey2,videopacplus": "videopac",
	}
	if !maps.Equal(got, want) {
		t.Errorf("shared device keys:\n got %v\nwant %v", got, want)
	}
}

// TestDeviceFoldersRoundTrip checks that every layout folder, looked up as a
// library folder, means a platform with that folder on that layout, except
// for the two documented device names that mean another platform elsewhere.
func TestDeviceFoldersRoundTrip(t *testing.T) {
	c := mustCatalog()
	for _, p := range c.platforms {
		for layout, folder := range p.Folders {
			q, ok := Lookup(folder)
			if !ok {
				t.Errorf("Lookup(%q) (%s folder of %s) found nothing", folder, layout, p.ID)
				continue
			}
			if want, ok := shadowedFolders[deviceFolder{layout, folder}]; ok {
				if q.ID != want {
					t.Errorf("Lookup(%q) = %s, want %s", folder, q.ID, want)
				}
				continue
			}
			if q.Folders[layout] != folder {
				t.Errorf("Lookup(%q) (%s folder of %s) = %s, whose %s folder is %q",
					folder, layout, p.ID, q.ID, layout, q.Folders[layout])
			}
		}
	}
}

func TestPrimaryKeysMeanTheirPlatform(t *testing.T) {
	for _, p := range Catalog() {
		for _, name := range append([]string{p.ID, p.Name}, p.Aliases...) {
			if q, ok := Lookup(name); !ok || q.ID != p.ID {
				t.Errorf("Lookup(%q) = %q, %v; want %s", name, q.ID, ok, p.ID)
			}
		}
	}
}

const (
	testLayouts = "name\taliases\tpath\tdescription\n" +
		"a\t\t<x>\tLayout A: <x>\n" +
		"b\tbee\tX/<x>/y\tLayout B: X/<x>/y\n"
	testHeader = "id\tname\taliases\tof\ta\tb\tnotes\n"
)

func TestParseCatalogRejects(t *testing.T) {
	tests := []struct {
		name, catalog, layouts, want string
	}{
		{"empty catalog", "", testLayouts, "empty"},
		{"no platforms", testHeader, testLayouts, "no platforms"},
		{"bad header", "id\tname\taliases\ta\tb\tnotes\n", testLayouts, "header"},
		{"unknown column", "id\tname\taliases\tof\ta\tc\tnotes\n", testLayouts, `column "c"`},
		{"alias as column", "id\tname\taliases\tof\ta\tbee\tnotes\n", testLayouts, `column "bee"`},
		{"missing column", "id\tname\taliases\tof\ta\tnotes\n", testLayouts, `no column for layout "b"`},
		{"short row", testHeader + "gb\tNintendo - Game Boy\tGB\t\tgb\n", testLayouts, ":2: 5 fields, want 7"},
		{"long row", testHeader + "gb\tNintendo - Game Boy\tGB\t\tgb\t\t\textra\n", testLayouts, "8 fields"},
		{"bad id", testHeader + "Game Boy\tNintendo - Game Boy\t\t\t\t\t\n", testLayouts, `id "Game Boy"`},
		{"duplicate id", testHeader + "gb\tNintendo - Game Boy\t\t\t\t\t\ngb\tOther\t\t\t\t\t\n", testLayouts, "already on line 2"},
		{"empty name", testHeader + "gb\t\t\t\t\t\t\n", testLayouts, "DAT name empty"},
		{"padded name", testHeader + "gb\t Nintendo - Game Boy\t\t\t\t\t\n", testLayouts, "padded"},
		{"punctuation name", testHeader + "gb\t- -\t\t\t\t\t\n", testLayouts, `DAT name "- -" has no letters`},
		{"empty alias", testHeader + "gb\tNintendo - Game Boy\tGB;--\t\t\t\t\n", testLayouts, `alias "--"`},
		{"folder with slash", testHeader + "gb\tNintendo - Game Boy\t\t\tgames/gb\t\t\n", testLayouts, "path separator"},
		{"folder with colon", testHeader + "gb\tNintendo - Game Boy\t\t\tg:b\t\t\n", testLayouts, "FAT and exFAT reject"},
		{"folder of punctuation", testHeader + "gb\tNintendo - Game Boy\t\t\t--\t\t\n", testLayouts, "no letters or digits"},
		{"alias of two platforms", testHeader +
			"gb\tNintendo - Game Boy\tGB;Gameboy\t\t\t\t\n" +
			"gbc\tNintendo - Game Boy Color\tGame Boy\t\t\t\t\n", testLayouts, `"Game Boy" of gbc has the key "gameboy" of gb`},
		{"unclaimed shared device folder", testHeader +
			"gb\tNintendo - Game Boy\t\t\tGameboy\t\t\n" +
			"gbc\tNintendo - Game Boy Color\t\t\tGameboy\t\t\n", testLayouts, `device folder key "gameboy" is shared by gb, gbc`},
		{"unknown parent", testHeader + "gbc\tNintendo - Game Boy Color\t\tgb\t\t\t\n", testLayouts, `variant of "gb", which is no platform`},
		{"parent of itself", testHeader + "gb\tNintendo - Game Boy\t\tgb\t\t\t\n", testLayouts, "variant of itself"},
		{"variant of a variant", testHeader +
			"gb\tNintendo - Game Boy\t\t\t\t\t\n" +
			"gbc\tNintendo - Game Boy Color\t\tgb\t\t\t\n" +
			"sgb\tNintendo - Super Game Boy\t\tgbc\t\t\t\n", testLayouts, "itself a variant"},
		{"layouts header", testHeader, "name\tpath\tdescription\n", "layouts.tsv: header"},
		{"no layouts", testHeader, "name\taliases\tpath\tdescription\n", "no layouts"},
		{"layout fields", testHeader, "name\taliases\tpath\tdescription\na\t<x>\tA\n", "3 fields, want 4"},
		{"layout name case", testHeader, "name\taliases\tpath\tdescription\nOnion\t\t<x>\tA\n", `layout name "Onion"`},
		{"layout alias twice", testHeader, testLayouts + "c\tbee\t<x>\tC\n", `layout name "bee" used twice`},
		{"path without x", testHeader, "name\taliases\tpath\tdescription\na\t\tRoms\tA\n", "exactly once"},
		{"path with dotdot", testHeader, "name\taliases\tpath\tdescription\na\t\t../<x>\tA\n", `element ".."`},
		{"absolute path", testHeader, "name\taliases\tpath\tdescription\na\t\t/<x>\tA\n", `element ""`},
		{"no description", testHeader, "name\taliases\tpath\tdescription\na\t\t<x>\t \n", "no description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCatalog(tt.catalog, tt.layouts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseCatalog: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseCatalogAccepts(t *testing.T) {
	c, err := parseCatalog("# comment\n"+testHeader+
		"gbc\tNintendo - Game Boy Color\tGBC\t\tGameboy\tgbc\tnote\r\n"+
		"\n"+
		"gb\tNintendo - Game Boy\tGB; Gameboy\t\tGameboy\tgb\t\n"+
		"gbj\tNintendo - Game Boy (Japan)\t\tgb\t\tgbj\t\n", testLayouts)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{c.platforms[0].ID, c.platforms[1].ID, c.platforms[2].ID}; !slices.Equal(got, []string{"gb", "gbc", "gbj"}) {
		t.Errorf("platforms = %v, want sorted gb, gbc, gbj", got)
	}
	if gbj := c.platforms[2]; gbj.Parent != "gb" || !maps.Equal(gbj.Folders, map[string]string{"a": "Gameboy", "b": "gbj"}) {
		t.Errorf("variant gbj = %+v, want parent gb, folder a inherited (Gameboy), b its own (gbj)", gbj)
	}
	if got := c.platforms[0].Aliases; !slices.Equal(got, []string{"GB", "Gameboy"}) {
		t.Errorf("aliases = %q, want trimmed GB, Gameboy", got)
	}
	if i, ok := c.lookup("GAMEBOY"); !ok || c.platforms[i].ID != "gb" {
		t.Errorf("lookup(GAMEBOY) = %v, %v; want gb", i, ok)
	}
	if l, ok := c.layout(" BEE "); !ok || l.name != "b" {
		t.Errorf("layout(BEE) = %+v, %v; want b", l, ok)
	}
	if !slices.Equal(c.makers, []string{"nintendo"}) {
		t.Errorf("makers = %v, want [nintendo]", c.makers)
	}
}

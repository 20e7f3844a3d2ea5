package platform

import (
	"path"
	"slices"
	"strings"
	"testing"
)

// mglNoPlatform are the launchers of MiSTer's distribution whose system is
// no catalog platform.
var mglNoPlatform = map[string]string{
	"Pocket Challenge V2": "the Benesse Pocket Challenge V2 is no catalog platform",
}

// TestMiSTerLauncherFolders checks mister-mgl against the .mgl files MiSTer
// ships (testdata/mister/mgl.tsv): the platform each launcher is named for
// has the launcher's <setname> as its mister-mgl folder, and every folder
// variants.tsv gives mister-mgl is one launcher's <setname>.
func TestMiSTerLauncherFolders(t *testing.T) {
	rows := readUpstream(t, "mister/mgl.tsv")
	setnames := map[string]bool{}
	for _, r := range rows {
		if len(r) != 4 {
			t.Fatalf("mgl.tsv row %q: want 4 fields", r)
		}
		system := strings.TrimSuffix(path.Base(r[0]), ".mgl")
		setname := r[3]
		setnames[strings.ToLower(setname)] = true
		p, ok := Lookup(system)
		if !ok {
			if _, known := mglNoPlatform[system]; !known {
				t.Errorf("launcher %s: Lookup(%q) found nothing", r[0], system)
			}
			continue
		}
		if got := p.Folders["mister-mgl"]; !sameIgnoringCase(got, setname) {
			t.Errorf("launcher %s (%s): mister-mgl folder %q, want its setname %q", r[0], p.ID, got, setname)
		}
	}
	vs, err := parseVariants(variantsTSV)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.name != "mister-mgl" {
			continue
		}
		for id, folder := range v.folders {
			if !setnames[strings.ToLower(folder)] {
				t.Errorf("variants.tsv: mister-mgl %s folder %q is no launcher's setname", id, folder)
			}
		}
	}
}

// TestVariantFolders: a variant has its base's folder for every platform
// but those variants.tsv names, and the layout maps library folders so.
func TestVariantFolders(t *testing.T) {
	vs, err := parseVariants(variantsTSV)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		for _, p := range Catalog() {
			want, moved := v.folders[p.ID]
			if !moved {
				want = p.Folders[v.base]
			}
			if got := p.Folders[v.name]; got != want {
				t.Errorf("%s %s folder %q, want %q", p.ID, v.name, got, want)
			}
		}
	}
	l := mustLayout(t, Options{Layout: "mister-mgl"})
	for lib, want := range map[string]string{
		"Sega - Game Gear":                "GameGear",
		"Bandai - WonderSwan Color":       "WonderSwanColor",
		"Bandai - WonderSwan":             "WonderSwan",
		"Sega - Master System - Mark III": "SMS",
		"Nintendo - Game Boy Color":       "Gameboy",
		"GameGear":                        "GameGear",
	} {
		if got, _, ok, _ := l.Map(lib); !ok || got != want {
			t.Errorf("mister-mgl Map(%q) = %q, %v; want %q", lib, got, ok, want)
		}
	}
	base := mustLayout(t, Options{Layout: "mister"}).SharedFolders()["SMS"]
	if got := l.SharedFolders()["SMS"]; !slices.Contains(base, "gg") || slices.Contains(got, "gg") || !slices.Contains(got, "sms") {
		t.Errorf("SMS holds %v on mister and %v on mister-mgl; want Game Gear out of it on mister-mgl only", base, got)
	}
}

func TestVariantErrors(t *testing.T) {
	const header = "layout\tbase\tplatform\tfolder\tsource\n"
	for _, tt := range []struct {
		name, variants, want string
	}{
		{"header", "layout\tbase\n", "header"},
		{"no source", header + "mister-mgl\tmister\tgg\tGameGear\t\n", "no source"},
		{"same name", header + "mister\tmister\tgg\tGameGear\tx\n", "two different layout names"},
		{"bad folder", header + "mister-mgl\tmister\tgg\ta/b\tx\n", "folder"},
		{"twice", header + "mister-mgl\tmister\tgg\tA\tx\nmister-mgl\tmister\tgg\tB\tx\n", "twice"},
		{"two bases", header + "mister-mgl\tmister\tgg\tA\tx\nmister-mgl\tonion\twsc\tB\tx\n", "variant of mister and of onion"},
		{"unknown platform", header + "mister-mgl\tmister\tnosuch\tA\tx\n", "no catalog platform"},
		{"unknown base", header + "mister-mgl\tnosuch\tgg\tA\tx\n", "no catalog.tsv column"},
		{"column exists", header + "onion\tmister\tgg\tA\tx\n", "has a column of that name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := withVariants(catalogTSV, tt.variants)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("withVariants: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

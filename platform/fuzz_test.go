package platform

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// deviceFolder is one layout's folder for one platform.
type deviceFolder struct{ layout, folder string }

// deviceFolders lists every layout folder of the catalog, in a fixed order.
func deviceFolders() []deviceFolder {
	var out []deviceFolder
	for _, p := range Catalog() {
		for _, l := range Layouts() {
			if f, ok := p.Folders[l]; ok {
				out = append(out, deviceFolder{l, f})
			}
		}
	}
	return out
}

// shadowedFolders are the device folders that, as library folder names,
// mean another platform (see the package documentation).
var shadowedFolders = map[deviceFolder]string{
	{"crossmix", "NGC"}:   "gc",
	{"mister", "MSX"}:     "msx",
	{"mister-mgl", "MSX"}: "msx",
	{"rocknix", "pc"}:     "pc",
	{"onion", "VIDEOPAC"}: "videopac",
}

// checkDeviceFolder checks that name, spelled like folder d, means a platform
// whose d.layout folder is d.folder, or the documented platform if shadowed.
func checkDeviceFolder(t *testing.T, d deviceFolder, name string) {
	t.Helper()
	p, ok := Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) (spelling %s folder %q) found nothing", name, d.layout, d.folder)
	}
	if want, shadowed := shadowedFolders[d]; shadowed {
		if p.ID != want {
			t.Fatalf("Lookup(%q) = %s, want %s", name, p.ID, want)
		}
		return
	}
	if p.Folders[d.layout] != d.folder {
		t.Fatalf("Lookup(%q) (spelling %s folder %q) = %s, whose %s folder is %q",
			name, d.layout, d.folder, p.ID, d.layout, p.Folders[d.layout])
	}
}

func FuzzLookup(f *testing.F) {
	folders := deviceFolders()
	for _, p := range Catalog() {
		f.Add(p.Name, uint16(0), " ")
		f.Add(p.ID, uint16(1), "_")
		for _, a := range p.Aliases {
			f.Add(a, uint16(2), "-")
		}
	}
	for i, d := range folders {
		f.Add(d.folder, uint16(i), " - ")
	}
	for _, s := range []string{"", "()", "(((", "a)", "[]()", "Nintendo (FC) [b] (c)", "Poke\u0301mon", "ＧＢＡ", "\xff\xfe", "Sega - PICO"} {
		f.Add(s, uint16(3), ".")
	}
	f.Fuzz(func(t *testing.T, name string, pick uint16, sep string) {
		p, ok := Lookup(name)
		if ok {
			if q, ok := Lookup(p.ID); !ok || q.ID != p.ID {
				t.Fatalf("Lookup(%q) = %s, but Lookup(%q) = %q, %v", name, p.ID, p.ID, q.ID, ok)
			}
			if q, ok := Lookup(p.Name); !ok || q.ID != p.ID {
				t.Fatalf("Lookup(%q) = %s, but Lookup(%q) = %q, %v", name, p.ID, p.Name, q.ID, ok)
			}
		}
		isASCII := !strings.ContainsFunc(name, func(r rune) bool { return r >= 0x80 })
		if isASCII {
			for _, variant := range []string{strings.ToUpper(name), strings.ToLower(name)} {
				q, ok2 := Lookup(variant)
				if ok2 != ok || q.ID != p.ID {
					t.Fatalf("Lookup(%q) = %q, %v but Lookup(%q) = %q, %v", name, p.ID, ok, variant, q.ID, ok2)
				}
			}
		}
		for _, d := range folders {
			if d.folder == name {
				checkDeviceFolder(t, d, name)
			}
		}
		// Any folder, re-cased and re-spaced with a separator that has no
		// letters or digits, still means its platform.
		if key(sep) == "" {
			d := folders[int(pick)%len(folders)]
			spelled := sep + strings.ReplaceAll(strings.ToUpper(d.folder), " ", sep) + sep
			checkDeviceFolder(t, d, spelled)
		}
	})
}

func FuzzNewLayout(f *testing.F) {
	names := append([]string{""}, Layouts()...)
	pocket := uint8(slices.Index(names, "pocket"))
	f.Add(uint8(0), "gba", "GBA")
	f.Add(pocket, "Game Boy", "gb2")
	f.Add(pocket, "psx", "psx_fpga")
	f.Add(uint8(1), "Nintendo - Game Boy Advance", "Game Boy Advance (GBA)")
	f.Add(uint8(2), "gba", "")
	f.Add(uint8(3), "gba", ".")
	f.Add(uint8(4), "gba", "..")
	f.Add(uint8(5), "gba", "a/b")
	f.Add(uint8(6), "gba", `a\b`)
	f.Add(uint8(7), "gba", "GBA ")
	f.Add(uint8(8), "ps3", "PS3")
	f.Add(uint8(9), "", "x")
	f.Add(uint8(10), "Pokémon mini", "Pokémon mini (PKM)")
	f.Fuzz(func(t *testing.T, pick uint8, name, folder string) {
		layout := names[int(pick)%len(names)]
		l, err := NewLayout(Options{Layout: layout, Overrides: map[string]string{name: folder}})
		p, known := Lookup(name)
		folderErr := checkFolder(folder)
		if err != nil {
			switch {
			case !known && !errors.Is(err, ErrUnknownPlatform):
				t.Fatalf("override %q for no platform: error %v, want ErrUnknownPlatform", name, err)
			case known && folderErr != nil && !errors.Is(err, ErrInvalidFolder):
				t.Fatalf("override folder %q (%v): error %v, want ErrInvalidFolder", folder, folderErr, err)
			case known && folderErr == nil:
				t.Fatalf("override %q -> %q on %q: unexpected error %v", name, folder, layout, err)
			}
			return
		}
		if !known || folderErr != nil {
			t.Fatalf("override %q -> %q accepted (platform known %v, folder %v)", name, folder, known, folderErr)
		}
		want := folder
		if layout == "pocket" {
			want = "Assets/" + folder + "/common"
		}
		for _, libraryFolder := range []string{p.ID, p.Name} {
			target, id, ok, reason := l.Map(libraryFolder)
			if !ok || id != p.ID || target != want {
				t.Fatalf("%q Map(%q) = %q, %q, %v, %q; want %q, %s", layout, libraryFolder, target, id, ok, reason, want, p.ID)
			}
		}
		for _, el := range strings.Split(want, "/") {
			if el == "" || el == "." || el == ".." {
				t.Fatalf("target %q has element %q", want, el)
			}
		}
		if !slices.Contains(l.Table(), Row{p.ID, p.Name, want}) {
			t.Fatalf("Table() lacks %s -> %q", p.ID, want)
		}
	})
}

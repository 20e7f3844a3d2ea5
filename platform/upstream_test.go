package platform

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// The tests in this file compare the catalog with copies of the firmwares'
// own files (or the part of them that names folders), kept in
// testdata/<firmware>/ with a SOURCE note giving repository, path and
// commit. They are facts: when a firmware renames a folder, refresh the copy
// and the catalog row together.

// readUpstream reads a testdata table: tab-separated rows, '#' comments.
func readUpstream(t *testing.T, name string) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := tsvRows(string(data))
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", name)
	}
	return rows
}

// column returns field i of every row.
func column(rows [][]string, i int) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if i < len(r) {
			out = append(out, r[i])
		}
	}
	return out
}

// checkLayoutFolders checks both directions between a layout's catalog
// column and a firmware's folder list: every catalog folder is one of the
// firmware's (compared by same(catalog, firmware)), and every firmware
// folder that Lookup recognises means a platform whose folder on that
// layout it is, unless it is a shadowed device folder or listed in other
// (firmware folder -> why it means another platform or none).
func checkLayoutFolders(t *testing.T, layout string, firmware []string, same func(a, b string) bool, other map[string]string) {
	t.Helper()
	for _, p := range Catalog() {
		f, ok := p.Folders[layout]
		if !ok {
			continue
		}
		if !slices.ContainsFunc(firmware, func(u string) bool { return same(f, u) }) {
			t.Errorf("%s %s folder %q is not in the firmware's list", p.ID, layout, f)
		}
	}
	for _, u := range firmware {
		if _, ok := other[u]; ok {
			continue
		}
		if _, ok := shadowedFolders[deviceFolder{layout, u}]; ok {
			continue
		}
		p, ok := Lookup(u)
		if ok && !same(p.Folders[layout], u) {
			t.Errorf("%s folder %q means %s, whose %s folder is %q", layout, u, p.ID, layout, p.Folders[layout])
		}
	}
	for u := range other {
		if !slices.Contains(firmware, u) {
			t.Errorf("exception %q is no %s folder: drop it", u, layout)
		}
	}
}

func sameName(a, b string) bool { return a == b }

func sameIgnoringCase(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// esdeLaunchers are the ES-DE systems that hold launchers, shortcuts or
// PC-store entries rather than ROMs; the catalog does not mirror them.
var esdeLaunchers = []string{"android", "androidapps", "androidgames", "desktop", "emulators", "epic",
	"kodi", "lutris", "ports", "steam", "windows"}

// TestESDESystems checks the goal: a library organised in ES-DE's
// own folder names mirrors each ROM system, under the es layout, to the very
// same name, and every es and retrodeck folder of the catalog is an ES-DE
// system.
func TestESDESystems(t *testing.T) {
	rows := readUpstream(t, "esde/systems.tsv")
	if len(rows) != 192 {
		t.Errorf("es_systems.xml copy has %d systems, want 192", len(rows))
	}
	names := column(rows, 0)
	checkLayoutFolders(t, "es", names, sameName, nil)
	for _, p := range Catalog() {
		if f, ok := p.Folders["retrodeck"]; ok && !slices.Contains(names, f) {
			t.Errorf("%s retrodeck folder %q is no ES-DE system", p.ID, f)
		}
	}

	es := mustLayout(t, Options{Layout: "es"})
	same := 0
	var missed []string
	for _, r := range rows {
		name, fullname := r[0], r[1]
		target, id, ok, _ := es.Map(name)
		if ok && id != "" && target == name {
			same++
		} else if !slices.Contains(esdeLaunchers, name) {
			missed = append(missed, name)
		}
		if !ok || id == "" {
			continue
		}
		// The system's full name means the same platform or one of its
		// family ("Sega Mega-CD" names both megacd and megacdjp).
		p, _ := Lookup(name)
		if q, found := Lookup(fullname); found && family(q) != family(p) {
			t.Errorf("ES-DE %s (%q) is %s, but its full name means %s", name, fullname, p.ID, q.ID)
		}
	}
	const want = 170
	t.Logf("%d of %d ES-DE systems are recognised and map to the same name under es; %d launcher systems aside",
		same, len(rows), len(esdeLaunchers))
	if same < want {
		t.Errorf("%d ES-DE systems map to their own name under es, want at least %d", same, want)
	}
	if len(missed) > 0 {
		t.Errorf("ES-DE ROM systems not mirrored under their own name: %v", missed)
	}
}

// TestESDESystemsOnOtherLayouts checks that an ES-DE-named folder lands, on
// every other layout, in a folder that means the same platform family there
// (or a folder that device shares between platforms).
func TestESDESystemsOnOtherLayouts(t *testing.T) {
	rows := readUpstream(t, "esde/systems.tsv")
	for _, l := range Layouts() {
		if l == "es" {
			continue
		}
		layout := mustLayout(t, Options{Layout: l})
		for _, name := range column(rows, 0) {
			target, id, ok, _ := layout.Map(name)
			if !ok || id == "" {
				continue
			}
			p, _ := Lookup(name)
			folder := p.Folders[l]
			if !strings.HasSuffix(target, folder) && !strings.Contains(target, "/"+folder+"/") {
				t.Errorf("%s Map(%q) = %q, want its %s folder %q", l, name, target, p.ID, folder)
			}
			q, found := Lookup(folder)
			if _, shadowed := shadowedFolders[deviceFolder{l, folder}]; shadowed || !found {
				continue
			}
			if family(q) != family(p) && q.Folders[l] != folder {
				t.Errorf("%s: ES-DE %s goes to %q, which means %s there", l, name, folder, q.ID)
			}
		}
	}
}

// batoceraOther are Knulli/Batocera systems whose key, as a library folder,
// means another platform than Batocera's (or a group, not a ROM folder).
var batoceraOther = map[string]string{
	"amiga": "a group entry (force: True) over amiga500 and amiga1200; as a library folder it means amiga, Batocera's amiga500",
	"msx":   "a group entry (force: True) over msx1, msx2, ...; as a library folder it means msx",
	"pico":  "the Sega Pico, which the catalog lacks; Onion's PICO folder (PICO-8) claims the name",
}

func TestBatoceraFolders(t *testing.T) {
	rows := readUpstream(t, "batocera/es_systems.keys")
	checkLayoutFolders(t, "batocera", column(rows, 0), sameName, batoceraOther)
	for _, r := range rows {
		if len(r) > 1 && slices.ContainsFunc(Catalog(), func(p Platform) bool { return p.Folders["batocera"] == r[0] }) {
			t.Errorf("batocera %q is a group entry, not a ROM folder", r[0])
		}
	}
	if p, _ := Lookup("Sega - Mega-CD - Sega CD"); p.Folders["batocera"] != "segacd" {
		t.Errorf("Sega CD batocera folder = %q, want segacd", p.Folders["batocera"])
	}
}

func TestROCKNIXFolders(t *testing.T) {
	rows := readUpstream(t, "rocknix/systems.tsv")
	var folders []string
	for _, f := range column(rows, 1) {
		if !strings.HasPrefix(f, "/") { // outside /storage/roms: no ROM folder
			folders = append(folders, strings.TrimSuffix(f, "/"))
		}
	}
	checkLayoutFolders(t, "rocknix", folders, sameName, nil)
	for _, want := range []string{"pico8", "mame", "fbneo"} {
		if p, _ := Lookup(want); p.Folders["rocknix"] == "" {
			t.Errorf("%s has no rocknix folder", want)
		}
	}
}

// onionOther are Onion folders that, as library folders, mean another
// platform than Onion's; none today but the shadowed ones.
var onionOther = map[string]string{}

func TestOnionFolders(t *testing.T) {
	rows := readUpstream(t, "onion/folders.tsv")
	folders := slices.Compact(slices.Sorted(slices.Values(column(rows, 2))))
	checkLayoutFolders(t, "onion", folders, sameName, onionOther)
}

// minuiOther are MinUI skeleton folders that do not mean the platform whose
// minui folder they are: alternative paks for a platform that has its own
// folder, and MinUI's own native games.
var minuiOther = map[string]string{
	"Game Boy Advance (MGBA)":                    "the mGBA pak's folder; Game Boy Advance (GBA) is the catalog's",
	"Super Nintendo Entertainment System (SUPA)": "the Supafaust pak's folder; Super Nintendo Entertainment System (SFC) is the catalog's",
	"Native Games (PAK)":                         "MinUI's native games, no platform",
}

// minuiTagOnly are catalog minui folders in no skeleton: MinUI picks the pak
// by the tag, so "<anything> (TAG)" works, but the name is the catalog's.
var minuiTagOnly = []string{"Famicom Disk System (FC)", "Neo Geo Pocket (NGPC)", "TurboGrafx-16 CD (PCE)"}

func TestMinUIFolders(t *testing.T) {
	rows := readUpstream(t, "minui/roms.tsv")
	folders := append(column(rows, 1), minuiTagOnly...)
	nfc := func(a, b string) bool { return a != "" && norm.NFC.String(a) == norm.NFC.String(b) }
	checkLayoutFolders(t, "minui", folders, nfc, minuiOther)
	tags := map[string]bool{}
	for _, f := range column(rows, 1) {
		_, groups := splitTrailingGroups(f)
		tags[groups[0]] = true
	}
	for _, f := range minuiTagOnly {
		if _, groups := splitTrailingGroups(f); !tags[groups[0]] {
			t.Errorf("MinUI folder %q: tag %q is no skeleton folder's", f, groups[0])
		}
	}
}

func TestMiSTerFolders(t *testing.T) {
	rows := readUpstream(t, "mister/cores.tsv")
	// MSX means msx (MSX1 is its MiSTer folder) and MSX1 the msx1 variant:
	// both are shadowed or the same family, as checked by the round trip.
	checkLayoutFolders(t, "mister", column(rows, 0), sameIgnoringCase, map[string]string{
		"GameNWatch":     "the GnW core reads converted .bin, not a Game & Watch library's .mgw",
		"Game and Watch": "the GameAndWatch core reads .gnw packages, not .mgw",
		"ATARI800":       "the Atari 800 core; atari800's mister folder is not set (no source for the ROM layout it wants)",
	})
}

func TestMuOSFolders(t *testing.T) {
	rows := readUpstream(t, "muos/assign.tsv")
	assign := map[string]string{}
	for _, r := range rows {
		assign[r[0]] = r[1]
	}
	muosKey := func(folder string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(" -_+", r) {
				return -1
			}
			return r
		}, strings.ToLower(folder))
	}
	used := map[string]bool{}
	for _, p := range Catalog() {
		f, ok := p.Folders["muos"]
		if !ok {
			continue
		}
		k := muosKey(f)
		if _, ok := assign[k]; !ok {
			t.Errorf("%s muos folder %q: key %q is not in assign.json", p.ID, f, k)
		}
		used[k] = true
	}
	for k := range assign {
		if !used[k] {
			t.Errorf("assign.tsv key %q is used by no catalog row: drop it from the extract", k)
		}
	}
	for _, id := range []string{"satellaview", "pokemini", "gw", "neogeo", "atari5200", "channelf", "supervision",
		"megaduck", "msx", "c64", "vic20", "amiga", "cpc", "zxspectrum", "pico8", "tic80"} {
		if p, _ := Lookup(id); p.Folders["muos"] == "" {
			t.Errorf("%s has no muos folder", id)
		}
	}
}

func TestRomMFolders(t *testing.T) {
	rows := readUpstream(t, "romm/slugs.txt")
	checkLayoutFolders(t, "romm", column(rows, 0), sameName, nil)
}

func TestFunKeyOSFolders(t *testing.T) {
	rows := readUpstream(t, "funkeyos/collections.tsv")
	checkLayoutFolders(t, "funkeyos", column(rows, 0), sameName, nil)
}

// crossmixOther are CrossMix-OS folders that, as library folders, mean
// another platform than CrossMix's, or none the catalog has.
var crossmixOther = map[string]string{}

func TestCrossMixFolders(t *testing.T) {
	rows := readUpstream(t, "crossmix/rompaths.tsv")
	folders := slices.Compact(slices.Sorted(slices.Values(column(rows, 1))))
	checkLayoutFolders(t, "crossmix", folders, sameName, crossmixOther)
}

// twmenuOther are TWiLight Menu++ folders for systems the catalog lacks.
var twmenuOther = map[string]string{
	"dsi": "DSiWare and DSi-exclusive games; no DAT platform in the catalog",
	"m5":  "the Sord M5; not in the catalog",
}

func TestTWiLightMenuFolders(t *testing.T) {
	rows := readUpstream(t, "twmenu/roms.tsv")
	checkLayoutFolders(t, "twmenu", column(rows, 0), sameName, twmenuOther)
	for _, id := range []string{"gbc", "sgb"} {
		if p, _ := Lookup(id); p.Folders["twmenu"] != "gb" {
			t.Errorf("%s twmenu folder = %q, want gb (the placeholder: \"Place GB, GBC, and-or SGB ROMs here\")", id, p.Folders["twmenu"])
		}
	}
}

// spruceOther are spruceOS folders that, as library folders, mean another
// platform than spruce's, or none the catalog has.
var spruceOther = map[string]string{}

func TestSpruceFolders(t *testing.T) {
	rows := readUpstream(t, "spruce/emus.tsv")
	var folders []string
	for _, r := range rows {
		f := r[1]
		if f == "=" { // the newer config format: Roms/<emu>
			f = r[0]
		}
		folders = append(folders, f)
	}
	checkLayoutFolders(t, "spruce", folders, sameName, spruceOther)
}

// miyoocfwOther are MiyooCFW folders that, as library folders, mean
// another platform than MiyooCFW's, or none the catalog has.
var miyoocfwOther = map[string]string{}

func TestMiyooCFWFolders(t *testing.T) {
	rows := readUpstream(t, "miyoocfw/folders.tsv")
	folders := slices.Compact(slices.Sorted(slices.Values(column(rows, 0))))
	checkLayoutFolders(t, "miyoocfw", folders, sameName, miyoocfwOther)
	if p, _ := Lookup("gbc"); p.Folders["miyoocfw"] != "GBC" {
		t.Errorf("gbc miyoocfw folder = %q, want GBC (the card's main/roms/GBC)", p.Folders["miyoocfw"])
	}
}

// pocketOther are Pocket platform ids that, as library folders, mean a
// platform whose ROMs the core cannot read as a library holds them.
var pocketOther = map[string]string{
	"gameandwatch": "the Game & Watch core reads .gnw packages, not a library's .mgw",
	"ng":           "the Neo Geo core reads ROMs split per chip, named by a JSON per game, not MAME zips",
}

func TestPocketFolders(t *testing.T) {
	rows := readUpstream(t, "pocket/platforms.tsv")
	ids := slices.Compact(slices.Sorted(slices.Values(column(rows, 0))))
	checkLayoutFolders(t, "pocket", ids, func(catalog, id string) bool {
		return catalog == id
	}, pocketOther)
}

// adamOther are Adam image folders that, as library folders, mean another
// platform than Adam's, or none the catalog has.
var adamOther = map[string]string{}

func TestAdamFolders(t *testing.T) {
	rows := readUpstream(t, "adam/sections.tsv")
	folders := slices.Compact(slices.Sorted(slices.Values(column(rows, 2))))
	checkLayoutFolders(t, "adam", folders, sameName, adamOther)
}

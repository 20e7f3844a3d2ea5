package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The reference facts the catalog was written from, copied into the
// repository with their source noted in each file's header (testdata/
// reference/README.md describes the columns); these tests compare the
// catalog with them.
var referenceDir = filepath.Join("testdata", "reference")

func readReference(t *testing.T, name string) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(referenceDir, name))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := tsvRows(string(data))
	if len(rows) < 2 {
		t.Fatalf("%s: no rows", name)
	}
	return rows
}

// referenceDeviations are the reference cells the catalog deliberately
// differs from (see the notes column of catalog.tsv).
var referenceDeviations = map[[2]string]string{
	{"Sega - Mega-CD - Sega CD", "es"}:                "segacd",     // reference: megacdjp, ES-DE's Japan-only system
	{"Sega - Mega Drive - Genesis", "mister"}:         "Genesis",    // reference: MegaDrive, the Nuked-MD core's folder
	{"NEC - PC Engine CD - TurboGrafx-CD", "rocknix"}: "pcenginecd", // reference: tg16cd, ROCKNIX's TurboGrafx-CD (variant tgcd)
	{"Sega - Mega-CD - Sega CD", "batocera"}:          "segacd",     // reference: megacd, which Batocera's es_systems.yml lacks
	{"Nintendo - Game Boy Color", "miyoocfw"}:         "GBC",        // reference: GB; MiyooCFW's gambatte reads roms/GBC
	{"Sega - SG-1000", "mister"}:                      "SMS",        // reference: SG1000; the SMS core loads .sg
	{"SNK - Neo Geo CD", "mister"}:                    "NeoGeo",     // reference: NeoGeo-CD; the NEOGEO core loads CD images
	{"Nintendo - Game & Watch", "mister"}:             "",           // reference: GameNWatch; no MiSTer core reads .mgw
	{"Sega - Mega-CD - Sega CD", "minui"}:             "",           // reference: Sega CD (MD), in no MinUI skeleton
	{"Sega - 32X", "minui"}:                           "",           // reference: Sega 32X (MD), in no MinUI skeleton
	{"Nintendo - Pokemon Mini", "funkeyos"}:           "",           // reference: Pokemini, no FunKey OS collection
	{"Nintendo - Virtual Boy", "funkeyos"}:            "",           // reference: Virtualboy, no FunKey OS collection
}

func TestReferencePlatforms(t *testing.T) {
	rows := readReference(t, "platforms.tsv")
	header := rows[0]
	layoutOf := map[int]string{}
	for i, col := range header {
		name := col
		if col == "rocknix_jelos" {
			name = "rocknix"
		}
		for _, l := range Layouts() {
			if l == name {
				layoutOf[i] = l
			}
		}
	}
	if len(layoutOf)+len(variantBases()) != len(Layouts()) { // a variant is checked through its base
		t.Fatalf("platforms.tsv columns %q cover %d of the %d layouts", header, len(layoutOf), len(Layouts()))
	}
	for _, row := range rows[1:] {
		dat := row[0]
		p, ok := Lookup(dat)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", dat)
			continue
		}
		if p.Name != dat {
			t.Errorf("Lookup(%q) = %s (%q), want the platform of that DAT name", dat, p.ID, p.Name)
		}
		for i, l := range layoutOf {
			if i >= len(row) || row[i] == "" {
				continue
			}
			cell := row[i]
			want := cell
			if dev, ok := referenceDeviations[[2]string{dat, l}]; ok {
				want = dev
			}
			if got := p.Folders[l]; got != want {
				t.Errorf("%s %s folder = %q, want %q", p.ID, l, got, want)
			}
			if want != cell {
				continue // a deviation: the reference spelling need not mean anything
			}
			// The reference spelling also means this platform, or one
			// merged with it on that device.
			q, ok := Lookup(cell)
			if !ok || (q.ID != p.ID && q.Folders[l] != p.Folders[l] && shadowedFolders[deviceFolder{l, cell}] != q.ID) {
				t.Errorf("Lookup(%q) (%s folder of %s) = %q, %v", cell, l, p.ID, q.ID, ok)
			}
		}
	}
}

func TestReferenceOnionFolders(t *testing.T) {
	rows := readReference(t, "onion_folders_extensions.tsv")
	onion := map[string]string{} // folder -> package
	for _, row := range rows[1:] {
		rel, ok := strings.CutPrefix(row[1], "../../Roms/")
		if !ok {
			t.Fatalf("onion rompath %q is not under ../../Roms/", row[1])
		}
		folder, _, _ := strings.Cut(rel, "/")
		onion[folder] = row[0]
	}
	// That every catalog folder is an Onion folder is TestOnionFolders' job:
	// it also reads the RApp packages, which this Emu-only table lacks.
	for folder, pkg := range onion {
		if _, shadowed := shadowedFolders[deviceFolder{"onion", folder}]; shadowed {
			continue
		}
		if p, ok := Lookup(folder); ok && p.Folders["onion"] != folder {
			t.Errorf("Onion folder %q (%s) means %s, whose onion folder is %q", folder, pkg, p.ID, p.Folders["onion"])
		}
	}
}

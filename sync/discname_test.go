package sync

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestParseDisc(t *testing.T) {
	for _, c := range []struct {
		name  string
		title string
		disc  int
	}{
		{"Final Fantasy VII (USA) (Disc 1).chd", "Final Fantasy VII (USA)", 1},
		{"Final Fantasy VII (USA) (Disc 3).cue", "Final Fantasy VII (USA)", 3},
		{"Riven (USA) (Disc 2 of 5).cue", "Riven (USA)", 2},
		{"Metal Gear Solid (USA) (Disc 1) (Rev 1).chd", "Metal Gear Solid (USA) (Rev 1)", 1},
		{"Policenauts (Japan) (disk 2).bin", "Policenauts (Japan)", 2},
		{"Lunar (CD1).iso", "Lunar", 1},
		{"Lunar (CD 12).iso", "Lunar", 12},
		{"Game (Disc 1) (Track 02).bin", "Game (Track 02)", 1},
		{"Tetris (World).gb", "", 0},                                    // no tag
		{"Game (Disc 1) (Disc 2).chd", "", 0},                           // two tags: unclear
		{"(Disc 1).chd", "", 0},                                         // no title
		{"Game (Disc 0).chd", "", 0},                                    // no disc 0
		{"Game (Disc A).chd", "", 0},                                    // letters are sides, not discs
		{". (Disc 1).chd", "", 0},                                       // a dot title would make ".."
		{"Disc Station (Japan) (Vol. 1).iso", "", 0},                    // "Disc" in the title only
		{"Game (Disc 1 of 2) extra (Disk 2).cue", "", 0},                // two tags again
		{"Game (USA) (Disc 1 of 3) (Beta).pbp", "Game (USA) (Beta)", 1}, // tag among others
	} {
		title, disc, ok := parseDisc(c.name)
		assert.Equal(t, c.title != "", ok, c.name)
		assert.Equal(t, c.title, title, c.name)
		assert.Equal(t, c.disc, disc, c.name)
	}
}

// groupNames runs groupDiscs on names, with the sheets given as text.
func groupNames(names []string, sheets map[string]string) map[string][][]string {
	refs := func(i int) []string {
		if text, ok := sheets[names[i]]; ok {
			return sheetRefs(names[i], []byte(text))
		}
		return nil
	}
	out := map[string][][]string{}
	for _, g := range groupDiscs(names, refs) {
		var discs, files []string
		for _, d := range g.Discs {
			discs = append(discs, names[d])
		}
		for _, f := range g.Files {
			files = append(files, names[f])
		}
		out[g.Title] = [][]string{discs, files}
	}
	return out
}

func TestGroupDiscs(t *testing.T) {
	for _, c := range []struct {
		what   string
		names  []string
		sheets map[string]string
		want   map[string][][]string // title -> {listed discs, every file}
	}{{
		what:  "chd discs out of order, other games left alone",
		names: []string{"FF7 (Disc 3).chd", "Tetris.gb", "FF7 (Disc 1).chd", "FF7 (Disc 2).chd", "Solo (Disc 1).chd"},
		want: map[string][][]string{"FF7": {
			{"FF7 (Disc 1).chd", "FF7 (Disc 2).chd", "FF7 (Disc 3).chd"},
			{"FF7 (Disc 3).chd", "FF7 (Disc 1).chd", "FF7 (Disc 2).chd"},
		}},
	}, {
		what: "cue sheets list the cue; their tracks go along (named, or named by the sheet)",
		names: []string{"G (Disc 1).cue", "G (Disc 1) (Track 1).bin", "G (Disc 1) (Track 2).bin",
			"G (Disc 2).cue", "track01.bin", "G (Disc 2).sbi", "Other.bin"},
		sheets: map[string]string{"G (Disc 2).cue": "FILE \"track01.bin\" BINARY\r\n  TRACK 01 MODE2/2352\r\n"},
		want: map[string][][]string{"G": {
			{"G (Disc 1).cue", "G (Disc 2).cue"},
			{"G (Disc 1).cue", "G (Disc 1) (Track 1).bin", "G (Disc 1) (Track 2).bin", "G (Disc 2).cue", "track01.bin", "G (Disc 2).sbi"},
		}},
	}, {
		what:   "gdi lists its tracks; a disc with a cue and a chd lists the cue",
		names:  []string{"S (Disc 1).gdi", "t1.raw", "t2 x.bin", "S (Disc 2).chd", "S (Disc 2).cue"},
		sheets: map[string]string{"S (Disc 1).gdi": "2\n1 0 4 2352 t1.raw 0\n2 600 0 2352 \"t2 x.bin\" 0\n"},
		want: map[string][][]string{"S": {
			{"S (Disc 1).gdi", "S (Disc 2).cue"},
			{"S (Disc 1).gdi", "t1.raw", "t2 x.bin", "S (Disc 2).chd", "S (Disc 2).cue"},
		}},
	}, {
		what:  "titles match ignoring case; the first disc names the game",
		names: []string{"Lunar (cd1).chd", "LUNAR (CD2).CHD"},
		want:  map[string][][]string{"Lunar": {{"Lunar (cd1).chd", "LUNAR (CD2).CHD"}, {"Lunar (cd1).chd", "LUNAR (CD2).CHD"}}},
	}, {
		what:  "iso and cso images (PSP, GameCube) are mirrored as they are",
		names: []string{"P (Disc 1).iso", "P (Disc 2).iso", "Q (Disc 1).cso", "Q (Disc 2).cso"},
		want:  map[string][][]string{},
	}, {
		what:  "a library m3u named like the game: mirrored as it is",
		names: []string{"A (Disc 1).chd", "A (Disc 2).chd", "a.M3U"},
		want:  map[string][][]string{},
	}, {
		what:   "a library m3u listing a disc under another name: mirrored as it is",
		names:  []string{"A (Disc 1).chd", "A (Disc 2).chd", "mine.m3u", "B (Disc 1).chd", "B (Disc 2).chd"},
		sheets: map[string]string{"mine.m3u": "#EXTM3U\n./A (Disc 2).chd\n"},
		want:   map[string][][]string{"B": {{"B (Disc 1).chd", "B (Disc 2).chd"}, {"B (Disc 1).chd", "B (Disc 2).chd"}}},
	}, {
		what:  "one disc, or discs that are no images, are no game",
		names: []string{"A (Disc 1).chd", "B (Disc 1).bin", "B (Disc 2).bin", "C (Disc 1).chd", "C (Disc 1).cue"},
		want:  map[string][][]string{},
	}} {
		t.Run(c.what, func(t *testing.T) {
			got := groupNames(c.names, c.sheets)
			for title, w := range c.want {
				if assert.Contains(t, got, title) {
					assert.Equal(t, w[0], got[title][0], "listed discs")
					assert.ElementsMatch(t, w[1], got[title][1], "files")
				}
			}
			assert.Len(t, got, len(c.want))
		})
	}
}

func TestPlaylistText(t *testing.T) {
	assert.Equal(t, ".FF7 (USA)/FF7 (USA) (Disc 1).chd\n.FF7 (USA)/FF7 (USA) (Disc 2).chd\n",
		string(playlist(".FF7 (USA)/", []string{"FF7 (USA) (Disc 1).chd", "FF7 (USA) (Disc 2).chd"})))
	assert.Equal(t, "a.cue\nb.cue\n", string(playlist("", []string{"a.cue", "b.cue"})))
}

func TestSheetRefs(t *testing.T) {
	cue := "REM x\r\nFILE \"A (Track 1).bin\" BINARY\r\n  TRACK 01 MODE1/2352\r\nfile b.wav WAVE\r\n"
	assert.Equal(t, []string{"A (Track 1).bin", "b.wav"}, sheetRefs("x.CUE", []byte(cue)))
	gdi := "3\n1 0 4 2352 track01.bin 0\n2 756 0 2352 \"track 02.raw\" 0\n3 45000 4 2352 track03.bin 0\n"
	assert.Equal(t, []string{"track01.bin", "track 02.raw", "track03.bin"}, sheetRefs("x.gdi", []byte(gdi)))
	assert.Equal(t, []string{"a.chd", ".G/b.chd"}, sheetRefs("x.m3u", []byte("#EXTM3U\n./a.chd\n\n.G/b.chd")))
	assert.Nil(t, sheetRefs("x.chd", []byte("FILE \"a\" BINARY")))
}

// FuzzParseDisc: any name parses without panic; a disc's title is a
// non-empty name without the tag, and putting the tag back (before the
// extension) parses to the same title and number.
func FuzzParseDisc(f *testing.F) {
	for _, s := range []string{"FF7 (Disc 1).chd", "A (Disc 2 of 3) (Rev 1).cue", "(CD1)", "x (disk 9).iso", "", ".", "a (Disc 1)(Disc 2)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		title, disc, ok := parseDisc(name)
		if !ok {
			return
		}
		if title == "" || disc < 1 || strings.HasPrefix(title, ".") || strings.Contains(title, "/") {
			t.Fatalf("parseDisc(%q) = %q, %d", name, title, disc)
		}
		if utf8.ValidString(name) && !utf8.ValidString(title) {
			t.Fatalf("parseDisc(%q): title %q not valid UTF-8", name, title)
		}
		if discTag.MatchString(title) {
			t.Fatalf("parseDisc(%q): title %q still has a disc tag", name, title)
		}
	})
}

// FuzzGroupDiscs: any set of names groups without panic; every game has
// at least two discs, each file in at most one game, each game's listed
// discs among its files.
func FuzzGroupDiscs(f *testing.F) {
	f.Add("A (Disc 1).chd\nA (Disc 2).chd\nA (Disc 2) (Track 1).bin\nB.m3u")
	f.Add("G (CD1).cue\ng (cd2).CUE\ntrack.bin")
	f.Fuzz(func(t *testing.T, list string) {
		names := strings.Split(list, "\n")
		refs := func(i int) []string { return sheetRefs(names[i], []byte(list)) }
		seen := map[int]bool{}
		for _, g := range groupDiscs(names, refs) {
			if len(g.Discs) < 2 {
				t.Fatalf("game %q has %d discs", g.Title, len(g.Discs))
			}
			in := map[int]bool{}
			for _, i := range g.Files {
				if seen[i] {
					t.Fatalf("%q in two games", names[i])
				}
				seen[i], in[i] = true, true
			}
			for _, d := range g.Discs {
				if !in[d] {
					t.Fatalf("disc %q of %q not among its files", names[d], g.Title)
				}
			}
		}
	})
}

// BenchmarkGroupDiscs: a PlayStation folder of 9,000 files, 1,000 of them
// in 400 multi-disc games (cue sets with tracks), the rest single discs.
func BenchmarkGroupDiscs(b *testing.B) {
	var names []string
	for g := range 400 {
		for d := 1; d <= 2+g%2; d++ {
			base := "Game " + strconv.Itoa(g) + " (USA) (Disc " + strconv.Itoa(d) + ")"
			names = append(names, base+".cue", base+" (Track 1).bin")
		}
	}
	for len(names) < 9000 {
		names = append(names, "Single "+strconv.Itoa(len(names))+" (Europe).chd")
	}
	refs := func(int) []string { return nil }
	b.ResetTimer()
	for range b.N {
		if len(groupDiscs(names, refs)) != 400 {
			b.Fatal("want 400 games")
		}
	}
}

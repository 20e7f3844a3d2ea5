package names

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var (
	fat      = Rules{FAT: true, CaseInsensitive: true, MaxNameBytes: 255}
	fatASCII = Rules{FAT: true, CaseInsensitive: true, MaxNameBytes: 255, ASCII: true}
	linux    = Rules{MaxNameBytes: 255}
)

// pokemonNFD is "Pokémon" with the é decomposed, as macOS writes it.
const pokemonNFD = "Poke\u0301mon"

func TestMapFAT(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Zelda (USA).gba", "Zelda (USA).gba"},
		{`a"b`, "a＂b"},
		{"a*b", "a＊b"},
		{"a:b", "a：b"},
		{"a<b", "a＜b"},
		{"a>b", "a＞b"},
		{"a?b", "a？b"},
		{`a\b`, "a＼b"},
		{"a|b", "a｜b"},
		{`"*:<>?\|`, "＂＊：＜＞？＼｜"},
		{"Star Wars: Episode I - Racer (USA).z64", "Star Wars： Episode I - Racer (USA).z64"},
		{"Who? (Japan)", "Who？ (Japan)"},
		{"a\x01b", "a\u2401b"},
		{"a\tb\nc\x1f", "a\u2409b\u240ac\u241f"},
		{"trailing.", "trailing．"},
		{"trailing ", "trailing␠"},
		{"dots...", "dots..．"},
		{"a. ", "a.␠"},
		{"a .", "a ．"},
		{" ", "␠"},
		{"...", "..．"},
		{" leading space", " leading space"},
		{".hidden", ".hidden"},
		{"a\x7fb", "a\x7fb"},
		{pokemonNFD + ".gba", "Pokémon.gba"},
		{"Legend of Zelda, The - A Link to the Past (USA) [!].sfc", "Legend of Zelda, The - A Link to the Past (USA) [!].sfc"},
		{"! ' & + % $ [ ; ~ #", "! ' & + % $ [ ; ~ #"},
		{"a：b", "a：b"}, // a look-alike maps to itself
		{"😀.gba", "😀.gba"},
	}
	for _, tt := range tests {
		got, err := fat.Map(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("FAT Map(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestMapEveryCharacter maps a name with each ASCII character inside and at
// the end, and checks the result with the FAT rules written out.
func TestMapEveryCharacter(t *testing.T) {
	for c := rune(1); c < utf8.RuneSelf; c++ {
		if c == '/' {
			continue
		}
		var want rune
		switch {
		case c < 0x20:
			want = 0x2400 + c
		case strings.ContainsRune(`"*:<>?\|`, c):
			want = 0xff00 + c - 0x20
		default:
			want = c
		}
		inside, err := fat.Map("a" + string(c) + "b")
		if err != nil || inside != "a"+string(want)+"b" {
			t.Errorf("Map(a%qb) = %q, %v; want %q", c, inside, err, "a"+string(want)+"b")
		}
		trailing, err := fat.Map("ab" + string(c))
		switch c {
		case ' ':
			want = '␠'
		case '.':
			want = '．'
		}
		if err != nil || trailing != "ab"+string(want) {
			t.Errorf("Map(ab%q) = %q, %v; want %q", c, trailing, err, "ab"+string(want))
		}
		if got := Unmap(inside); got != "a"+string(c)+"b" {
			t.Errorf("Unmap(%q) = %q", inside, got)
		}
		if got := Unmap(trailing); got != "ab"+string(c) {
			t.Errorf("Unmap(%q) = %q", trailing, got)
		}
	}
}

func TestMapNotFAT(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a:b?.gba", "a:b?.gba"},
		{"trailing. ", "trailing. "},
		{"a\x01b", "a\x01b"},
		{pokemonNFD, "Pokémon"},
		{"\xff\xfe", "\xff\xfe"}, // ext4 takes any bytes
	}
	for _, tt := range tests {
		got, err := linux.Map(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Linux Map(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestMapInvalid(t *testing.T) {
	tests := []struct {
		rules Rules
		in    string
	}{
		{fat, ""}, {fat, "."}, {fat, ".."}, {fat, "a/b"}, {fat, "/"}, {fat, "a\x00b"},
		{linux, ""}, {linux, "."}, {linux, ".."}, {linux, "roms/gba"}, {linux, "\x00"},
		{fat, "\xff.gba"},
		{fatASCII, "Pokémon"},
		{fatASCII, "a:b"}, // the look-alike is not ASCII
		{fatASCII, "a\x01b"},
		{fatASCII, "a\x7fb"},
		{fatASCII, "trailing."}, // ．is not ASCII either
	}
	for _, tt := range tests {
		got, err := tt.rules.Map(tt.in)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("%+v Map(%q) = %q, %v; want ErrInvalidName", tt.rules, tt.in, got, err)
		}
	}
	const printable = "Legend of Zelda, The (USA) [!] ~#$%&'+;=@^`{}.sfc"
	if got, err := fatASCII.Map(printable); err != nil || got != printable {
		t.Errorf("ASCII rules: Map(%q) = %q, %v; want it unchanged", printable, got, err)
	}
}

func TestMapTooLong(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		in    string
		ok    bool
	}{
		{"FAT 255 units", fat, strings.Repeat("a", 255), true},
		{"FAT 256 units", fat, strings.Repeat("a", 256), false},
		{"FAT 255 look-alikes (765 bytes)", fat, strings.Repeat(":", 255), true},
		{"FAT 127 surrogate pairs + 1", fat, strings.Repeat("😀", 127) + "a", true},
		{"FAT 128 surrogate pairs", fat, strings.Repeat("😀", 128), false},
		{"FAT counted after NFC", fat, strings.Repeat("e\u0301", 255), true},
		{"FAT limit from rules", Rules{FAT: true, MaxNameBytes: 8}, "abcdefgh.", false},
		{"FAT default limit", Rules{FAT: true}, strings.Repeat("a", 256), false},
		{"bytes 255", linux, strings.Repeat("a", 255), true},
		{"bytes 256", linux, strings.Repeat("a", 256), false},
		{"bytes count UTF-8", linux, strings.Repeat("é", 128), false},
		{"bytes counted after NFC", linux, strings.Repeat("e\u0301", 127), true},
		{"bytes default limit", Rules{}, strings.Repeat("a", 256), false},
		{"bytes larger limit", Rules{MaxNameBytes: 1024}, strings.Repeat("a", 1024), true},
	}
	for _, tt := range tests {
		got, err := tt.rules.Map(tt.in)
		if tt.ok {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrNameTooLong) {
			t.Errorf("%s: Map = %q, %v; want ErrNameTooLong", tt.name, got, err)
			continue
		}
		if !strings.Contains(err.Error(), "limit") || !strings.Contains(err.Error(), tt.in[:8]) {
			t.Errorf("%s: error %q does not name the name and the limit", tt.name, err)
		}
	}
}

// lookalikes are the characters the FAT mapping produces.
const lookalikes = "＂＊：＜＞？＼｜␠．\u2400\u2401\u2402\u2403\u2404\u2405\u2406\u2407\u2408\u2409\u240a\u240b\u240c\u240d\u240e\u240f\u2410\u2411\u2412\u2413\u2414\u2415\u2416\u2417\u2418\u2419\u241a\u241b\u241c\u241d\u241e\u241f"

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{
		"Zelda (USA).gba", `"*:<>?\|`, "a\x01\x02\x1fb", "trailing.", "trailing ", " ", "...",
		pokemonNFD + ": Red?.gb", "Star Wars: Episode I - Racer (USA).z64", "x\ty\n.",
		"a␠b", "a．b", // look-alikes that Map does not produce in that place
	} {
		mapped, err := fat.Map(name)
		if err != nil {
			t.Fatalf("Map(%q): %v", name, err)
		}
		if got, want := Unmap(mapped), norm.NFC.String(name); got != want {
			t.Errorf("Unmap(Map(%q)) = %q, want %q", name, got, want)
		}
	}
}

func TestUnmap(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain.gba", "plain.gba"},
		{"a：b", "a:b"},
		{"a␠b", "a␠b"}, // only a trailing ␠ stands for a space
		{"a．b", "a．b"},
		{"ab␠", "ab "},
		{"ab．", "ab."},
		{"␀", "␀"}, // Map never writes U+2400 (NUL is invalid)
		{"\xff：", "\xff:"},
		{"．", "．"}, // would be "."
		{".．", ".．"},
	}
	for _, tt := range tests {
		if got := Unmap(tt.in); got != tt.want {
			t.Errorf("Unmap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		a, b  string
		same  bool
	}{
		{"case on FAT", fat, "Zelda (USA).gba", "zelda (usa).gba", true},
		{"case on ext4", linux, "Zelda (USA).gba", "zelda (usa).gba", false},
		{"extension case", fat, "Metroid.GBA", "Metroid.gba", true},
		{"NFD and NFC", linux, pokemonNFD, "Pokémon", true},
		{"NFD and upper NFC", fat, pokemonNFD, "POKÉMON", true},
		{"full folding", fat, "Straße", "STRASSE", true},
		{"different names", fat, "Zelda (USA).gba", "Zelda (Europe).gba", false},
		{"fullwidth is not ASCII", linux, "a：b", "a:b", false},
	}
	for _, tt := range tests {
		ka, kb := tt.rules.Key(tt.a), tt.rules.Key(tt.b)
		if (ka == kb) != tt.same {
			t.Errorf("%s: Key(%q) = %q, Key(%q) = %q; want same=%v", tt.name, tt.a, ka, tt.b, kb, tt.same)
		}
	}
}

// TestCollisions shows how the caller finds source names that would be one
// file on the target.
func TestCollisions(t *testing.T) {
	tests := []struct {
		a, b string
	}{
		{"Zelda (USA).gba", "zelda (usa).gba"},
		{"a:b.gba", "a：b.gba"},
		{"Who?.gba", "WHO？.gba"},
		{pokemonNFD + ".gb", "pokémon.gb"},
		{"end.", "END．"},
	}
	for _, tt := range tests {
		ma, err := fat.Map(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := fat.Map(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if fat.Key(ma) != fat.Key(mb) {
			t.Errorf("%q and %q map to %q and %q with different keys: collision missed", tt.a, tt.b, ma, mb)
		}
	}
}

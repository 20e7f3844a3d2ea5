package platform

import (
	"slices"
	"testing"
)

func checkLookup(t *testing.T, folder, want string) {
	t.Helper()
	p, ok := Lookup(folder)
	switch {
	case want == "" && ok:
		t.Errorf("Lookup(%q) = %s, want no platform", folder, p.ID)
	case want != "" && !ok:
		t.Errorf("Lookup(%q) found nothing, want %s", folder, want)
	case want != "" && p.ID != want:
		t.Errorf("Lookup(%q) = %s, want %s", folder, p.ID, want)
	}
}

func TestLookup(t *testing.T) {
	tests := []struct{ folder, want string }{
		// one platform, many spellings
		{"Nintendo - Game Boy Advance", "gba"},
		{"nintendo game boy advance", "gba"},
		{"Nintendo_Game_Boy_Advance", "gba"},
		{"GBA", "gba"},
		{"gba", "gba"},
		{" gba ", "gba"},
		{"Game Boy Advance", "gba"},
		{"Gameboy Advance", "gba"},
		{"Game Boy Advance (GBA)", "gba"},
		{"ＧＢＡ", "gba"}, // fullwidth
		{"Sega Genesis", "md"},
		{"Mega Drive", "megadrive"},
		{"Sega - Mega Drive - Genesis", "md"},
		{"megadrive", "megadrive"},
		{"megadrivejp", "megadrivejp"},
		{"Sega - Mega Drive - Genesis (Japan)", "md"},
		{"PlayStation", "psx"},
		{"PS1", "psx"},
		{"psx", "psx"},
		{"Sony - PlayStation", "psx"},
		{"Super Famicom", "sfc"},
		{"Famicom", "famicom"},
		{"Famicom Disk System", "fds"},
		{"TurboGrafx-16", "pce"},
		{"PC Engine", "pcengine"},
		{"tg16", "pce"},
		{"PC Engine CD", "pcecd"},
		{"TurboGrafx-CD", "tgcd"},
		{"Game & Watch", "gw"},
		{"Game and Watch", "gw"},
		{"g-and-w", "gw"},
		{"MSX2+", ""},
		// device folders
		{"SEVENTYEIGHTHUNDRED", "atari7800"},
		{"Atari Lynx", "lynx"},
		{"Gameboy", "gb"},
		{"Neo Geo Pocket (NGPC)", "ngp"},
		{"neo-geo-pocket-color", "ngpc"},
		{"Sega CD (MD)", "segacd"},
		{"Assets", ""},
		// redump and newer no-intro names
		{"Sega - Mega CD & Sega CD", "segacd"},
		{"NEC - PC Engine CD & TurboGrafx CD", "pcecd"},
		{"Atari - Atari 2600", "atari2600"},
		// unicode: NFD and NFC, with and without the accent
		{"Poke\u0301mon mini (PKM)", "pokemini"},
		{"Pok\u00e9mon mini (PKM)", "pokemini"},
		{"Pokemon Mini", "pokemini"},
		// trailing groups
		{"Nintendo - Game Boy (Parent-Clone)", "gb"},
		{"Nintendo - Nintendo Entertainment System (Headered) (20240101-000000)", "nes"},
		{"Nintendo - Game Boy Advance [BIOS]", "gba"},
		{"Sony - PlayStation Portable (PSN)", "psp"},
		// a leading manufacturer
		{"Sega Saturn", "saturn"},
		{"NEC TurboGrafx-16", "pce"},
		{"Nintendo Famicom", "famicom"},
		{"Nintendo Super Famicom", "sfc"},
		{"SNK NeoGeo Pocket Color", "ngpc"},
		{"Bandai WonderSwan Color", "wsc"},
		// a MinUI folder renamed but for its tag
		{"Nintendo (FC)", "nes"},
		{"Famicom (FC)", "famicom"},
		{"My Favourites (GBA)", "gba"},
		// unknown platforms, including near misses
		{"", ""},
		{"   ", ""},
		{"()", ""},
		{"Sony - PlayStation 3", "ps3"},
		{"Sony - PlayStation Vita", "psvita"},
		{"Nintendo - Wii U", "wiiu"},
		{"Nintendo - Nintendo DSi (Digital)", ""},
		{"Nintendo - Nintendo 3DS", "n3ds"},
		{"Nintendo - Nintendo 64DD", "n64dd"},
		{"Sega - PICO", ""},
		{"Sega - Mega-CD 32X", ""},
		{"Atari - Jaguar", "atarijaguar"},
		{"Super Game Boy", "sgb"},
		{"Holiday Photos", ""},
		{"Games (USA)", ""},
		{"Nintendo", ""},
		{"Sony - PlayStation 5", ""},
		{"Nintendo - Virtual Boy 2", ""},
		// ES-DE's own folder names, regional variants included
		{"megacdjp", "megacdjp"},
		{"snesna", "snesna"},
		{"sega32xjp", "sega32xjp"},
		{"saturnjp", "saturnjp"},
		{"neogeocdjp", "neogeocdjp"},
		{"videopac", "videopac"},
		{"amiga1200", "amiga1200"},
		{"amiga500", "amiga"},
		{"arcade", "arcade"},
		{"tg-cd", "tgcd"},
		{"mame-advmame", "mameadvmame"},
		{"sg-1000", "sg1000"},
	}
	for _, tt := range tests {
		checkLookup(t, tt.folder, tt.want)
	}
}

// TestLookupConfusions checks names that differ by one word.
func TestLookupConfusions(t *testing.T) {
	groups := [][]struct{ folder, want string }{
		{{"Nintendo - Game Boy", "gb"}, {"Nintendo - Game Boy Color", "gbc"}, {"Nintendo - Game Boy Advance", "gba"},
			{"GB", "gb"}, {"GBC", "gbc"}, {"GBA", "gba"}, {"Game Boy", "gb"}, {"Game Boy Color", "gbc"}},
		{{"Nintendo - Nintendo Entertainment System", "nes"}, {"Nintendo - Super Nintendo Entertainment System", "snes"},
			{"NES", "nes"}, {"SNES", "snes"}, {"FC", "nes"}, {"SFC", "sfc"}},
		{{"SNK - Neo Geo Pocket", "ngp"}, {"SNK - Neo Geo Pocket Color", "ngpc"}, {"SNK - Neo Geo", "neogeo"},
			{"SNK - Neo Geo CD", "neocd"}, {"NGP", "ngp"}, {"NGPC", "ngpc"}},
		{{"Sony - PlayStation", "psx"}, {"Sony - PlayStation 2", "ps2"}, {"Sony - PlayStation Portable", "psp"},
			{"PS", "psx"}, {"PS2", "ps2"}, {"PSP", "psp"}},
		{{"Sega - Mega-CD - Sega CD", "segacd"}, {"Sega - Mega Drive - Genesis", "md"}, {"Sega - 32X", "32x"},
			{"Mega-CD", "megacd"}, {"Mega CD", "megacd"}, {"Mega Drive", "megadrive"}, {"Sega CD", "segacd"}},
		{{"Sega - Master System - Mark III", "sms"}, {"Sega - Game Gear", "gg"}, {"Sega - SG-1000", "sg1000"}},
		{{"NEC - PC Engine - TurboGrafx-16", "pce"}, {"NEC - PC Engine CD - TurboGrafx-CD", "pcecd"},
			{"NEC - PC Engine SuperGrafx", "sgfx"}},
		{{"Bandai - WonderSwan", "ws"}, {"Bandai - WonderSwan Color", "wsc"}},
		{{"Atari - 2600", "atari2600"}, {"Atari - 5200", "atari5200"}, {"Atari - 7800", "atari7800"}},
		{{"Microsoft - MSX", "msx"}, {"Microsoft - MSX2", "msx2"}},
		{{"Nintendo - GameCube", "gc"}, {"Nintendo - Wii", "wii"}, {"NGC", "gc"}},
		{{"Nintendo - Nintendo 64", "n64"}, {"Nintendo - Nintendo DS", "nds"}},
		{{"MAME", "mame"}, {"FBNeo - Arcade Games", "fbneo"}, {"Arcade", "arcade"}, {"Arcade (FBN)", "fbneo"}},
	}
	for _, g := range groups {
		for _, tt := range g {
			checkLookup(t, tt.folder, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Nintendo - Game Boy Advance", "nintendogameboyadvance"},
		{"GAME_BOY.advance", "gameboyadvance"},
		{"Game & Watch", "gameandwatch"},
		{"MSX2+", "msx2plus"},
		{"Poke\u0301mon", "pokemon"},
		{"Pok\u00e9mon", "pokemon"},
		{"ＳＮＥＳ", "snes"},
		{"İ", "i"},
		{"ゲームボーイ", "ケ\u3099ームホ\u3099ーイ"},
		{"ゲームボーイ" + "\u0301", "ケ\u3099ームホ\u3099ーイ\u0301"},
		{"e\u0301 ", "e"},
		{"\u0735SEGA32X", "sega32x"},
		{" \u0735SEGA32X", "sega32x"},
		{"-_ .()[]", ""},
	}
	for _, tt := range tests {
		if got := key(tt.in); got != tt.want {
			t.Errorf("key(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitTrailingGroups(t *testing.T) {
	tests := []struct {
		in, base string
		groups   []string
	}{
		{"Game Boy", "Game Boy", nil},
		{"Game Boy (GB)", "Game Boy", []string{"GB"}},
		{"Game Boy (GB) [x] ", "Game Boy", []string{"x", "GB"}},
		{"A (b (c))", "A", []string{"b (c)"}},
		{"A (b) c", "A (b) c", nil},
		{"A b)", "A b)", nil},
		{"(GBA)", "", []string{"GBA"}},
		{"A ]", "A ]", nil},
	}
	for _, tt := range tests {
		base, groups := splitTrailingGroups(tt.in)
		if base != tt.base || !slices.Equal(groups, tt.groups) {
			t.Errorf("splitTrailingGroups(%q) = %q, %q; want %q, %q", tt.in, base, groups, tt.base, tt.groups)
		}
	}
}

func TestCheckFolder(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"GBA", true},
		{"Game Boy Advance (GBA)", true},
		{"Pokémon mini (PKM)", true},
		{"poke_mini", true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{`a\b`, false},
		{"a:b", false},
		{"a?", false},
		{"a\x01b", false},
		{"\xff", false},
		{" GBA", false},
		{"GBA ", false},
		{"GBA.", false},
		{string(make([]byte, 256)), false},
	}
	for _, tt := range tests {
		if err := checkFolder(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkFolder(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

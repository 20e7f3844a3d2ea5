package names

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/targetfs"
	"golang.org/x/text/unicode/norm"
)

// cardNames are source names that need every part of the mapping, plus real
// No-Intro and Redump names.
func cardNames() []string {
	names := []string{
		"trailing.", "trailing ", "dots and space. ", " leading space", ".hidden",
		"a\x7fb",
		pokemonNFD + " - Red Version (USA, Europe).gb",
		"Legend of Zelda, The - A Link to the Past (USA) [!].sfc",
		"Star Wars: Episode I - Racer (USA).z64",
		"Who? - \"Quotes\" <tags> a|b c\\d e*f.iso",
		"! ' & + % $ [ ; ~ # = @ ^ ` { }.bin",
		"ポケットモンスター 赤 (Japan).gb",
		"Straße.gba",
		"😀 (Emoji).gba",
		strings.Repeat("a", 251) + ".gba",       // 255 units
		strings.Repeat(":", 250) + ".gba" + ".", // 255 units, 766 bytes
		strings.Repeat("😀", 125) + ".gba" + strings.Repeat("?", 1), // 255 units
	}
	for _, c := range fatRejected {
		names = append(names, "in"+string(c)+"side.gba")
	}
	for c := rune(1); c < 0x20; c++ {
		names = append(names, "ctl"+string(c)+".gba")
	}
	return names
}

func hasLookalike(s string) bool {
	return strings.ContainsAny(s, lookalikes)
}

// TestMapOnCard creates every mapped name on a real exFAT and FAT32 card,
// with rules built from what targetfs probes, and reads the names and the
// files back.
func TestMapOnCard(t *testing.T) {
	cards := []struct {
		name  string
		mount func(testing.TB, string) string
		min   int // names the card must store
	}{
		{"exFAT", testfs.ExFAT, len(cardNames())},
		{"FAT32", testfs.FAT32, 5}, // fusefat: printable ASCII names only
	}
	for _, card := range cards {
		t.Run(card.name, func(t *testing.T) {
			dir := card.mount(t, "64M")
			scratch := filepath.Join(dir, ".romsyncd")
			roms := filepath.Join(dir, "roms")
			for _, d := range []string{scratch, roms} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			info, err := targetfs.Probe(context.Background(), dir, scratch)
			if err != nil {
				t.Fatal(err)
			}
			rules := Rules{FAT: info.FATNames, CaseInsensitive: info.CaseInsensitive,
				MaxNameBytes: info.MaxNameBytes, ASCII: !info.Unicode}
			t.Logf("%s: %+v", info, rules)
			if !rules.FAT || !rules.CaseInsensitive {
				t.Fatalf("probed rules %+v: want FAT and case-insensitive", rules)
			}

			stored := map[string]string{} // mapped name → source name
			keys := map[string]string{}
			for _, src := range cardNames() {
				mapped, err := rules.Map(src)
				if err != nil {
					if rules.ASCII && errors.Is(err, ErrInvalidName) {
						checkRefused(t, roms, src)
						continue
					}
					t.Errorf("Map(%q): %v", src, err)
					continue
				}
				key := rules.Key(mapped)
				if prev, ok := keys[key]; ok {
					t.Fatalf("test names %q and %q collide", prev, src)
				}
				keys[key] = src
				if err := os.WriteFile(filepath.Join(roms, mapped), []byte(src), 0o644); err != nil {
					t.Errorf("create %q (from %q): %v", mapped, src, err)
					continue
				}
				stored[mapped] = src
			}
			if len(stored) < card.min {
				t.Errorf("stored %d names, want at least %d", len(stored), card.min)
			}

			ents, err := os.ReadDir(roms)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != len(stored) {
				t.Errorf("listed %d names, wrote %d", len(ents), len(stored))
			}
			for _, e := range ents {
				src, ok := stored[e.Name()]
				if !ok {
					t.Errorf("listed %q, which was not written (the card changed the name)", e.Name())
					continue
				}
				data, err := os.ReadFile(filepath.Join(roms, e.Name()))
				if err != nil || string(data) != src {
					t.Errorf("read %q = %q, %v; want %q", e.Name(), data, err, src)
				}
				if !hasLookalike(src) {
					if got, want := Unmap(e.Name()), norm.NFC.String(src); got != want {
						t.Errorf("Unmap(%q) = %q, want %q", e.Name(), got, want)
					}
				}
			}

			// Equal keys are one file on the card.
			const zelda = "Legend of Zelda, The - A Link to the Past (USA) [!].sfc"
			other := strings.ToUpper(zelda)
			if rules.Key(zelda) != rules.Key(other) {
				t.Fatalf("keys of %q and %q differ", zelda, other)
			}
			if data, err := os.ReadFile(filepath.Join(roms, other)); err != nil || string(data) != zelda {
				t.Errorf("read %q = %q, %v: the card should find %q", other, data, err, zelda)
			}
		})
	}
}

// checkRefused confirms that the card refuses the name that Map without the
// ASCII rule gives for src, so that Map was right to refuse it.
func checkRefused(t *testing.T, dir, src string) {
	t.Helper()
	full, err := Rules{FAT: true}.Map(src)
	if err != nil {
		t.Errorf("Map(%q) without the ASCII rule: %v", src, err)
		return
	}
	path := filepath.Join(dir, full)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		f.Close()
		os.Remove(path)
		t.Errorf("Map refused %q as not ASCII, but the card took %q", src, full)
	}
}

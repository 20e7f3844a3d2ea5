package library

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxNameRunes and maxNameBytes bound a generated file name: real No-Intro
// names reach ~155 characters, and ext4 and exFAT both take 255 (bytes and
// UTF-16 units respectively).
const (
	maxNameRunes = 150
	maxNameBytes = 200
)

// Word lists for titles. Every entry is NFC and free of the characters that
// FAT/exFAT reject (" * : < > ? \ |), as in real No-Intro/Redump sets, so a
// generated library can be mirrored onto any SD card without renaming.
var (
	adjectives = []string{
		"Super", "Mega", "Ultra", "Hyper", "Final", "Dark", "Crystal", "Golden",
		"Silver", "Shadow", "Mystic", "Lost", "Eternal", "Iron", "Crimson",
		"Little", "Great", "Wild", "Secret", "Brave", "Cosmic", "Fatal",
		"Turbo", "Royal", "Ancient", "Sacred", "Metal", "Neon", "Savage",
		"Tiny", "Frozen", "Burning", "Silent", "Rapid", "Wonder", "Mighty",
	}
	nouns = []string{
		"Dragon", "Quest", "Fantasy", "Warrior", "Knight", "Castle", "Kingdom",
		"Legend", "Fighter", "Racer", "Soccer", "Baseball", "Golf", "Tennis",
		"Puzzle", "Tetris", "Blaster", "Ninja", "Samurai", "Wizard", "Dungeon",
		"Island", "Galaxy", "Star", "Planet", "Robot", "Tank", "Pinball",
		"Hero", "Striker", "Hunter", "Raider", "Empire", "Saga", "Chronicle",
		"Adventure", "Odyssey", "Arena", "Circuit", "Commando", "Force",
		"Mission", "Patrol", "Rally", "Pilot", "Squadron", "Bomber", "Monster",
		"Crusade", "Tower", "Labyrinth", "Voyage", "Sorcerer", "Paladin",
		"Gauntlet", "Frontier", "Outlaw", "Ranger", "Ghost", "Phantom",
		"Tetromino", "Boxing", "Wrestling", "Hockey", "Basketball", "Bowling",
		"Derby", "Jockey", "Mahjong", "Shogi", "Chess", "Casino", "Fishing",
	}
	// names with non-ASCII letters, as found in real sets (all NFC).
	accented = []string{
		"Pok\u00e9mon", "Ast\u00e9rix", "Ob\u00e9lix", "Se\u00f1or", "\u00dcber",
		"Fu\u00dfball", "Gar\u00e7on", "\u014ckami", "Caf\u00e9", "M\u00fcnchen",
		"Ni\u00f1o", "Fran\u00e7ais", "R\u00eave", "H\u00e9ros", "\u00c9t\u00e9",
	}
	// katakana words, for the occasional Japanese title.
	japanese = []string{
		"\u30c9\u30e9\u30b4\u30f3", "\u30af\u30a8\u30b9\u30c8", "\u30de\u30ea\u30aa",
		"\u30d1\u30ba\u30eb", "\u30b9\u30bf\u30fc", "\u30ec\u30fc\u30b9",
	}
	people = []string{
		"Mario", "Wario", "Sonic", "Kirby", "Bomberman", "Mickey", "Donald",
		"Tom", "Jerry", "Barbie", "Garfield", "Tintin", "Lucky Luke", "Asterix",
		"Harry", "Bart", "Scooby-Doo", "Kid", "Captain", "Doctor", "Professor",
	}
	colors = []string{"Red", "Blue", "Yellow", "Gold", "Silver", "Crystal", "Ruby", "Sapphire", "Emerald", "Green"}
	romans = []string{"II", "III", "IV", "V", "2", "3", "4", "64", "2000", "'98", "'99", "Advance", "DX", "Deluxe", "Plus", "Gaiden", "Turbo", "Zero"}

	regions = []struct {
		name   string
		weight int
	}{
		{"USA", 30}, {"Europe", 18}, {"Japan", 25}, {"USA, Europe", 10},
		{"World", 6}, {"Japan, USA", 3}, {"France", 2}, {"Germany", 2},
		{"Spain", 1}, {"Italy", 1}, {"Korea", 1}, {"Brazil", 1}, {"Australia", 1},
		{"Asia", 1}, {"USA, Australia", 1}, {"Europe, Brazil", 1},
	}
	languages = []string{"En,Fr,De", "En,Fr,De,Es,It", "En,Ja", "Fr,De", "En,Fr,De,Es,It,Nl,Sv,No,Da,Fi", "En,Es", "Ja,En"}
	revisions = []string{"Rev 1", "Rev 2", "Rev 3", "Rev A", "Rev B", "v1.1", "v1.2", "v2.0"}
	statuses  = []string{"Beta", "Proto", "Demo", "Sample", "Kiosk", "Unl", "Virtual Console", "Aftermarket", "Beta 2", "Proto 1", "Pirate", "Hack"}
	// GoodTools-style dump flags, which some collections still carry.
	dumpFlags = []string{"[!]", "[b1]", "[a1]", "[h1C]", "[T+Fre]", "[T-Spa1.0]", "[o1]", "[f1]"}
)

// nameGen produces realistic ROM file names for one folder, unique under
// case folding (FAT/exFAT are case-insensitive).
type nameGen struct {
	r    *rng
	ext  string
	seen map[string]bool
}

func newNameGen(r *rng, ext string) *nameGen {
	return &nameGen{r: r, ext: ext, seen: map[string]bool{}}
}

// reserve marks an existing name as taken.
func (g *nameGen) reserve(name string) {
	g.seen[foldKey(name)] = true
}

// foldKey is the collision key of a name on a case-insensitive target.
func foldKey(name string) string {
	return strings.ToLower(name)
}

// next returns a new file name (with extension) not yet used in the folder.
func (g *nameGen) next() string {
	for attempt := 0; ; attempt++ {
		base := g.title()
		tags := g.tags()
		if attempt >= 8 {
			// Crowded folder: a unique (Track N)-style disambiguator, as DATs
			// use for otherwise identical titles.
			tags += fmt.Sprintf(" (Alt %d)", attempt-7+g.r.intn(1000))
		}
		name := fitName(base, tags, g.ext)
		k := foldKey(name)
		if !g.seen[k] {
			g.seen[k] = true
			return name
		}
	}
}

// fitName joins a title, its tags and the extension, dropping tags and then
// shortening the title until the name fits the length limits.
func fitName(title, tags, ext string) string {
	name := title + tags + ext
	for !fits(name) && tags != "" {
		i := strings.LastIndex(tags, " (")
		if j := strings.LastIndex(tags, " ["); j > i {
			i = j
		}
		if i < 0 {
			i = 0
		}
		tags = tags[:i]
		name = title + tags + ext
	}
	for !fits(name) {
		r := []rune(title)
		title = strings.TrimRight(string(r[:len(r)-1]), " .,-&+~")
		name = title + tags + ext
	}
	return name
}

func fits(name string) bool {
	return utf8.RuneCountInString(name) <= maxNameRunes && len(name) <= maxNameBytes
}

// title returns a game title in No-Intro style ("Legend of Foo, The").
func (g *nameGen) title() string {
	r := g.r
	t := g.simpleTitle()
	switch n := r.intn(100); {
	case n < 22:
		t += " - " + g.simpleTitle()
	case n < 30:
		t += " " + pick(r, romans)
	case n < 34:
		t += " - " + g.simpleTitle() + " - " + g.simpleTitle()
	case n < 37:
		t += " + " + g.simpleTitle()
	case n < 40:
		t += " ~ " + g.simpleTitle()
	case n < 42:
		t += fmt.Sprintf(" #%d", 1+r.intn(12))
	case n < 44:
		t += "!"
	case n < 45:
		t += "; " + g.simpleTitle()
	}
	if r.chance(1) {
		t = "[BIOS] " + t
	}
	return t
}

func (g *nameGen) simpleTitle() string {
	r := g.r
	switch n := r.intn(100); {
	case n < 30:
		return pick(r, adjectives) + " " + pick(r, nouns)
	case n < 45:
		return pick(r, nouns) + " " + pick(r, nouns)
	case n < 55:
		return pick(r, nouns) + " of " + pick(r, nouns) + ", The"
	case n < 63:
		return pick(r, people) + "'s " + pick(r, nouns)
	case n < 70:
		return pick(r, nouns) + " & " + pick(r, nouns)
	case n < 75:
		return pick(r, accented) + " " + pick(r, nouns)
	case n < 78:
		return pick(r, accented) + " - " + pick(r, colors) + " Version"
	case n < 80:
		return pick(r, japanese) + " " + pick(r, japanese)
	case n < 82:
		return fmt.Sprintf("%d%% %s", 10*(1+r.intn(10)), pick(r, nouns))
	case n < 83:
		return fmt.Sprintf("$%d,000 %s", 1+r.intn(100), pick(r, nouns))
	case n < 90:
		return pick(r, people) + " " + pick(r, nouns)
	default:
		return pick(r, adjectives) + " " + pick(r, adjectives) + " " + pick(r, nouns)
	}
}

// tags returns the parenthesised region/language/revision/status tags, with a
// leading space.
func (g *nameGen) tags() string {
	r := g.r
	var b strings.Builder
	total := 0
	for _, reg := range regions {
		total += reg.weight
	}
	n := r.intn(total)
	for _, reg := range regions {
		if n < reg.weight {
			b.WriteString(" (" + reg.name + ")")
			break
		}
		n -= reg.weight
	}
	if r.chance(15) {
		b.WriteString(" (" + pick(r, languages) + ")")
	}
	if r.chance(18) {
		b.WriteString(" (" + pick(r, revisions) + ")")
	}
	if r.chance(10) {
		b.WriteString(" (" + pick(r, statuses) + ")")
		if r.chance(40) {
			fmt.Fprintf(&b, " (%04d-%02d-%02d)", 1990+r.intn(20), 1+r.intn(12), 1+r.intn(28))
		}
	}
	if r.chance(6) {
		b.WriteString(" " + pick(r, dumpFlags))
	}
	return b.String()
}

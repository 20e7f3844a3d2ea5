package sync

import (
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Multi-disc games in one library folder: which files are the discs of one
// game, which track files go with each disc, and the playlist that lists
// them. Pure functions of names (and of the sheets' text): no file is read
// here.

// discTag is a disc number in a file name: "(Disc 1)", "(Disc 2 of 3)",
// "(Disk 1)", "(CD1)", "(CD 2)", any case, with the space before it.
var discTag = regexp.MustCompile(`(?i)\s*\((?:dis[ck]|cd)\s*([0-9]{1,3})(?:\s+of\s+[0-9]{1,3})?\)`)

// discExts are the disc images a playlist lists, the one preferred for a
// disc first: a sheet (.cue, .gdi, .ccd, .mds) before the image it
// describes, then single-file images. Track files (.bin, .img, .raw, ...)
// go with their disc but are never listed. .iso and .cso are left out: on
// these devices they are mostly PSP and GameCube games, whose emulators
// launch no playlist (a game in a hidden folder would vanish).
var discExts = []string{".cue", ".gdi", ".ccd", ".mds", ".chd", ".pbp"}

func discRank(name string) int {
	return slices.Index(discExts, strings.ToLower(path.Ext(name)))
}

func stem(name string) string { return strings.TrimSuffix(name, path.Ext(name)) }

// parseDisc reads the game title and disc number from a file name:
// "Final Fantasy VII (USA) (Disc 2).chd" is disc 2 of "Final Fantasy VII
// (USA)"; the tag may sit among other tags ("Game (USA) (Disc 1) (Rev 1)"
// is disc 1 of "Game (USA) (Rev 1)"). A name with no tag, or with two, is
// no disc.
func parseDisc(name string) (title string, disc int, ok bool) {
	s := stem(name)
	m := discTag.FindAllStringSubmatchIndex(s, 2)
	if len(m) != 1 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[m[0][2]:m[0][3]])
	if err != nil || n < 1 {
		return "", 0, false
	}
	title = strings.TrimSpace(s[:m[0][0]] + s[m[0][1]:])
	if title == "" || strings.HasPrefix(title, ".") || strings.ContainsAny(title, "/\x00") || discTag.MatchString(title) {
		return "", 0, false
	}
	return title, n, true
}

// discGame is one game of two or more discs in a library folder. Indexes
// refer to the names given to groupDiscs.
type discGame struct {
	Title string // from the first disc's name
	Discs []int  // the file listed for each disc, in disc order
	Files []int  // every file of the game: discs, their tracks, other images of a disc
}

// discRefs returns the names a file refers to: the FILE lines of a .cue,
// the track lines of a .gdi, the lines of an .m3u. Nil when it refers to
// none or could not be read.
type discRefs func(i int) []string

// groupDiscs groups the files of one library folder into multi-disc games.
// A game has at least two discs, each a disc image (discExts). With each
// disc go the files its sheet names (refs) and the files named like it
// ("Game (Disc 1).bin", "Game (Disc 1) (Track 02).bin"). A game for which
// the folder already has a playlist (an .m3u named like the game, or one
// listing any of its files) is left out: the library's playlist is
// mirrored as it is.
func groupDiscs(names []string, refs discRefs) []discGame {
	type cand struct {
		discs map[int][]int // disc number -> files
	}
	byTitle := map[string]*cand{}
	var order []string
	for i, n := range names {
		if discRank(n) < 0 {
			continue
		}
		title, d, ok := parseDisc(n)
		if !ok {
			continue
		}
		k := strings.ToLower(title)
		c := byTitle[k]
		if c == nil {
			c = &cand{discs: map[int][]int{}}
			byTitle[k] = c
			order = append(order, k)
		}
		c.discs[d] = append(c.discs[d], i)
	}
	slices.Sort(order)
	claimed := make([]bool, len(names))
	var games []discGame
	for _, k := range order {
		c := byTitle[k]
		if len(c.discs) < 2 {
			continue
		}
		var g discGame
		nums := slices.Sorted(maps.Keys(c.discs))
		for _, d := range nums {
			files := c.discs[d]
			slices.SortFunc(files, func(a, b int) int {
				if ra, rb := discRank(names[a]), discRank(names[b]); ra != rb {
					return ra - rb
				}
				return strings.Compare(names[a], names[b])
			})
			g.Discs = append(g.Discs, files[0])
			g.Files = append(g.Files, files...)
		}
		g.Title, _, _ = parseDisc(names[g.Discs[0]])
		for _, i := range g.Files {
			claimed[i] = true
		}
		games = append(games, g)
	}
	if len(games) == 0 {
		return nil
	}
	claimTracks(names, refs, games, claimed)
	return dropPlaylisted(names, refs, games)
}

// claimTracks adds to each game the files its discs' sheets name and the
// files named like one of its discs.
func claimTracks(names []string, refs discRefs, games []discGame, claimed []bool) {
	byName := make(map[string]int, len(names))
	for i, n := range names {
		byName[strings.ToLower(n)] = i
	}
	claim := func(g *discGame, i int) {
		if !claimed[i] && !strings.EqualFold(path.Ext(names[i]), ".m3u") {
			claimed[i] = true
			g.Files = append(g.Files, i)
		}
	}
	for gi := range games {
		g := &games[gi]
		for _, d := range g.Files {
			if r := discRank(names[d]); r < 0 || r > 1 { // .cue and .gdi name their tracks
				continue
			}
			for _, ref := range refs(d) {
				if i, ok := byName[strings.ToLower(ref)]; ok {
					claim(g, i)
				}
			}
		}
	}
	// A file named like a disc, or like a disc and more tags, goes with
	// the longest such disc name.
	stems := map[string]int{} // lower-case stem of a game's file -> game
	for gi := range games {
		for _, d := range games[gi].Files {
			stems[strings.ToLower(stem(names[d]))] = gi
		}
	}
	for i, n := range names {
		if claimed[i] {
			continue
		}
		s := strings.ToLower(stem(n))
		if gi, ok := stems[s]; ok {
			claim(&games[gi], i)
			continue
		}
		for j := len(s) - 1; j > 0; j-- {
			if s[j] != ' ' {
				continue
			}
			if gi, ok := stems[s[:j]]; ok {
				claim(&games[gi], i)
				break
			}
		}
	}
	for gi := range games {
		slices.Sort(games[gi].Files)
	}
}

// dropPlaylisted leaves out the games the folder already has a playlist for.
func dropPlaylisted(names []string, refs discRefs, games []discGame) []discGame {
	listed := map[string]bool{} // lower-case names any .m3u of the folder lists
	m3us := map[string]bool{}   // lower-case titles of the folder's .m3u files
	for i, n := range names {
		if !strings.EqualFold(path.Ext(n), ".m3u") {
			continue
		}
		m3us[strings.ToLower(stem(n))] = true
		for _, r := range refs(i) {
			listed[strings.ToLower(path.Base(r))] = true
		}
	}
	if len(m3us) == 0 {
		return games
	}
	kept := games[:0]
	for _, g := range games {
		has := m3us[strings.ToLower(g.Title)]
		for _, i := range g.Files {
			has = has || listed[strings.ToLower(names[i])]
		}
		if !has {
			kept = append(kept, g)
		}
	}
	return kept
}

// playlist is the text of a game's .m3u: one line per disc, LF endings,
// each line prefix + the disc's name on the card.
func playlist(prefix string, discs []string) []byte {
	var b strings.Builder
	for _, d := range discs {
		b.WriteString(prefix)
		b.WriteString(d)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// sheetRefs returns the file names a .cue or .gdi sheet (or an .m3u)
// refers to: a .cue's FILE lines ("FILE \"x.bin\" BINARY"), a .gdi's
// track lines ("1 0 4 2352 track01.raw 0", the name may be quoted), an
// .m3u's lines.
func sheetRefs(name string, text []byte) []string {
	var out []string
	ext := strings.ToLower(path.Ext(name))
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" {
			continue
		}
		var ref string
		switch ext {
		case ".cue":
			if len(line) < 5 || !strings.EqualFold(line[:5], "FILE ") {
				continue
			}
			ref = quotedOrField(strings.TrimSpace(line[5:]), 0)
		case ".gdi":
			if i == 0 {
				continue // the track count
			}
			ref = quotedOrField(line, 4)
		case ".m3u":
			if strings.HasPrefix(line, "#") {
				continue
			}
			ref = strings.TrimPrefix(line, "./")
		}
		if ref != "" {
			out = append(out, ref)
		}
	}
	return out
}

// quotedOrField returns the first quoted string of s, else its n-th
// space-separated field.
func quotedOrField(s string, n int) string {
	if i := strings.IndexByte(s, '"'); i >= 0 {
		if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
			return s[i+1 : i+1+j]
		}
	}
	f := strings.Fields(s)
	if n < len(f) {
		return f[n]
	}
	return ""
}

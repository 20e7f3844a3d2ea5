// Package saves backs up the saves and save states a console's firmware
// writes on a card: found through the save catalog (locations.tsv), copied
// off the card read-only into a versioned, verified backup, and restored on
// request.
package saves

import (
	_ "embed"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/romsyncd/romsyncd/platform"
)

//go:embed locations.tsv
var locationsTSV string

// Kind says whether a file is an in-game save or an emulator save state.
type Kind string

const (
	// KindSave is an in-game save (battery RAM, memory card, RTC).
	KindSave Kind = "save"
	// KindState is an emulator save state.
	KindState Kind = "state"
)

// RomFolder is the dir of a location whose files sit next to the ROMs.
const RomFolder = "<rom-folder>"

// Location is one row of the save catalog: a folder of a card where a
// firmware writes one kind of file.
type Location struct {
	Layout   string   // canonical layout name
	Roms     string   // the ROM root relative to the card root ("" = the card root)
	Kind     Kind     // save or state
	Dir      string   // relative to the card root; "<rom-folder>" = next to the ROMs
	Base     string   // Dir up to its placeholder (the folder that is walked)
	Part     string   // the placeholder: <platform>, <core> or <platform>-<core>
	Patterns []string // globs on the file name, lower case
	Game     string   // rom, rom.ext or rom_n
	Source   string   // repository@commit path of the firmware's own setting
	Line     int      // line in locations.tsv
}

var placeholderRE = regexp.MustCompile(`<[a-z-]+>`)

var validParts = map[string]bool{"<platform>": true, "<core>": true, "<platform>-<core>": true}

var (
	catalogOnce sync.Once
	catalog     []Location
	catalogErr  error
)

// Locations returns the save catalog's rows for a layout name or alias,
// or an error when the catalog knows no save folder for it.
func Locations(layout string) ([]Location, error) {
	all, err := loadLocations()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(strings.TrimSpace(layout))
	if l, err := platform.NewLayout(platform.Options{Layout: layout}); err == nil && l.Name() != "" {
		name = l.Name()
	}
	var out []Location
	for _, l := range all {
		if l.Layout == name {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("layout %q: %w (known: %s)", layout, ErrNoLocations, strings.Join(Layouts(), ", "))
	}
	return out, nil
}

// Layouts returns the canonical layout names the save catalog covers.
func Layouts() []string {
	all, _ := loadLocations()
	var names []string
	seen := map[string]bool{}
	for _, l := range all {
		if !seen[l.Layout] {
			seen[l.Layout] = true
			names = append(names, l.Layout)
		}
	}
	return names
}

func loadLocations() ([]Location, error) {
	catalogOnce.Do(func() { catalog, catalogErr = parseLocations(locationsTSV) })
	return catalog, catalogErr
}

// parseLocations parses the save catalog's text.
func parseLocations(text string) ([]Location, error) {
	var out []Location
	header := false
	for n, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "\t")
		if !header {
			header = true
			if strings.Join(cells, ",") != "layout,roms,kind,dir,patterns,game,source" {
				return nil, fmt.Errorf("locations.tsv:%d: unexpected header %q", n+1, line)
			}
			continue
		}
		l, err := parseLocation(cells)
		if err != nil {
			return nil, fmt.Errorf("locations.tsv:%d: %w", n+1, err)
		}
		l.Line = n + 1
		out = append(out, l)
	}
	return out, nil
}

func parseLocation(cells []string) (Location, error) {
	if len(cells) != 7 {
		return Location{}, fmt.Errorf("%d columns, want 7", len(cells))
	}
	l := Location{Layout: cells[0], Roms: cells[1], Kind: Kind(cells[2]), Dir: cells[3], Game: cells[5], Source: strings.TrimSpace(cells[6])}
	if l, err := platform.NewLayout(platform.Options{Layout: cells[0]}); err != nil || l.Name() != cells[0] {
		return Location{}, fmt.Errorf("layout %q is no canonical layout name of platform/layouts.tsv", cells[0])
	}
	if l.Kind != KindSave && l.Kind != KindState {
		return Location{}, fmt.Errorf("kind %q is not save or state", cells[2])
	}
	if l.Roms != "" && !validRel(l.Roms) {
		return Location{}, fmt.Errorf("roms %q is not a relative path", l.Roms)
	}
	if l.Dir == RomFolder {
		l.Part = RomFolder
	} else {
		loc := placeholderRE.FindStringIndex(l.Dir)
		if loc == nil || !strings.HasSuffix(l.Dir, l.Dir[loc[0]:]) || loc[0] == 0 || l.Dir[loc[0]-1] != '/' {
			return Location{}, fmt.Errorf("dir %q: want <base>/<placeholder> as its last component", l.Dir)
		}
		l.Base, l.Part = l.Dir[:loc[0]-1], l.Dir[loc[0]:]
		if !validParts[l.Part] || !validRel(l.Base) {
			return Location{}, fmt.Errorf("dir %q: want <base>/<platform>, <base>/<core> or <base>/<platform>-<core>", l.Dir)
		}
	}
	for _, p := range strings.Split(cells[4], ";") {
		p = strings.ToLower(strings.TrimSpace(p))
		if _, err := path.Match(p, ""); err != nil || !strings.HasPrefix(p, "*.") {
			return Location{}, fmt.Errorf("pattern %q is not a glob *.<suffix>", p)
		}
		l.Patterns = append(l.Patterns, p)
	}
	switch l.Game {
	case "rom", "rom.ext", "rom_n":
	default:
		return Location{}, fmt.Errorf("game %q is not rom, rom.ext or rom_n", l.Game)
	}
	if !sourceRE.MatchString(l.Source) {
		return Location{}, fmt.Errorf("source %q does not cite owner/repo@commit path", l.Source)
	}
	return l, nil
}

var sourceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{8,40} \S+`)

func validRel(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.HasPrefix(p, "..")
}

// Match reports whether a file name is a file of this location, and the
// game it belongs to.
func (l Location) Match(name string) (game string, ok bool) {
	stem, _, ok := l.split(name)
	if !ok {
		return "", false
	}
	return gameName(stem, l.Game), true
}

// split cuts a file name of this location at the suffix its pattern
// matched: "Tetris.state3" → "Tetris", ".state3".
func (l Location) split(name string) (stem, suffix string, ok bool) {
	lower := strings.ToLower(name)
	for _, p := range l.Patterns {
		if m, _ := path.Match(p, lower); !m {
			continue
		}
		// The pattern's literal suffix ("*.state[0-9]*" → ".state") ends the stem.
		lit := p[1:]
		if i := strings.IndexAny(lit, "*?["); i >= 0 {
			lit = lit[:i]
		}
		i := strings.LastIndex(lower, lit)
		if i <= 0 {
			return "", "", false
		}
		return name[:i], name[i:], true
	}
	return "", "", false
}

var slotRE = regexp.MustCompile(`_[0-9]+$`)

func gameName(stem, mode string) string {
	switch mode {
	case "rom.ext":
		if i := strings.LastIndexByte(stem, '.'); i > 0 && i >= len(stem)-5 && isAlnum(stem[i+1:]) {
			return stem[:i]
		}
	case "rom_n":
		return slotRE.ReplaceAllString(stem, "")
	}
	return stem
}

func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// PlatformOf returns the platform (or core) a folder name below Base stands
// for.
func (l Location) PlatformOf(folder string) string {
	if l.Part == "<platform>-<core>" {
		if i := strings.IndexByte(folder, '-'); i > 0 {
			return folder[:i]
		}
	}
	return folder
}

package platform

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

//go:embed habits.tsv
var habitsTSV string

// Habit is how a device wants a platform's library files installed
// (habits.tsv, embedded; each row cites its source).
type Habit string

// The habits habits.tsv may name.
const (
	// HabitUnzip: the device's core reads the ROM, never a .zip, so a zip
	// holding exactly one file is installed as that file.
	HabitUnzip Habit = "unzip"
	// HabitArcade: romsets, installed as they are, never unzipped or renamed.
	HabitArcade Habit = "arcade"
	// HabitGameFolder: each direct sub-folder of the platform folder is one
	// game (DOS, ScummVM), copied whole or not at all.
	HabitGameFolder Habit = "game-folder"
)

// habitKey is one (platform, layout) cell of habits.tsv; layout "*" is
// every layout.
type habitKey struct{ id, layout string }

var loadHabits = sync.OnceValues(func() (map[habitKey]Habit, error) {
	c, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	return parseHabits(c, habitsTSV)
})

func parseHabits(c *catalog, text string) (map[habitKey]Habit, error) {
	rows, lines := tsvRows(text)
	if len(rows) == 0 || strings.Join(rows[0], "\t") != "platform\tlayout\thabit\tsource" {
		return nil, fmt.Errorf("habits.tsv: want the header platform, layout, habit, source")
	}
	ids := map[string]bool{}
	for _, p := range c.platforms {
		ids[p.ID] = true
	}
	out := map[habitKey]Habit{}
	for n, r := range rows[1:] {
		line := lines[n+1]
		if len(r) != 4 || strings.TrimSpace(r[3]) == "" {
			return nil, fmt.Errorf("habits.tsv:%d: want 4 fields and a source", line)
		}
		id, layout, h := r[0], r[1], Habit(r[2])
		if !ids[id] {
			return nil, fmt.Errorf("habits.tsv:%d: %q is no catalog platform id", line, id)
		}
		if _, ok := c.layoutBy[layout]; layout != "*" && (!ok || c.layouts[c.layoutBy[layout]].name != layout) {
			return nil, fmt.Errorf("habits.tsv:%d: %q is no canonical layout name (or *)", line, layout)
		}
		switch h {
		case HabitUnzip, HabitArcade, HabitGameFolder:
		default:
			return nil, fmt.Errorf("habits.tsv:%d: unknown habit %q", line, h)
		}
		k := habitKey{id, layout}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("habits.tsv:%d: a second row for %s on %s", line, id, layout)
		}
		out[k] = h
	}
	// An arcade platform is never unzipped: its zips are romsets.
	for k, h := range out {
		if h == HabitUnzip && habitOf(c, out, k.id, k.layout) == HabitArcade {
			return nil, fmt.Errorf("habits.tsv: %s is arcade (romsets) and cannot be unzipped on %s", k.id, k.layout)
		}
	}
	return out, nil
}

// habitOf is the habit of platform id on layout: the arcade habit first
// (it overrides any other), then the layout's row, then the row for every
// layout; a variant without rows of its own follows its parent.
func habitOf(c *catalog, hs map[habitKey]Habit, id, layout string) Habit {
	parent := ""
	for _, p := range c.platforms {
		if p.ID == id {
			parent = p.Parent
		}
	}
	for _, pid := range []string{id, parent} {
		if pid == "" {
			continue
		}
		if hs[habitKey{pid, "*"}] == HabitArcade {
			return HabitArcade
		}
	}
	for _, pid := range []string{id, parent} {
		if pid == "" {
			continue
		}
		if h, ok := hs[habitKey{pid, layout}]; ok {
			return h
		}
		if h, ok := hs[habitKey{pid, "*"}]; ok {
			return h
		}
	}
	return ""
}

func mustHabits() map[habitKey]Habit {
	hs, err := loadHabits()
	if err != nil {
		panic("platform: embedded habits: " + err.Error())
	}
	return hs
}

// HabitOf returns how layout wants the files of the platform a library
// folder stands for installed ("" when nothing special: copied as they
// are). layout is a canonical layout name; "" asks for the habits of every
// layout only.
func HabitOf(libraryFolder, layout string) Habit {
	c := mustCatalog()
	i, ok := c.lookup(libraryFolder)
	if !ok {
		return ""
	}
	if layout == "" {
		layout = "*"
	}
	return habitOf(c, mustHabits(), c.platforms[i].ID, layout)
}

// Unzip reports whether, on this layout, a .zip in library folder
// libraryFolder that holds exactly one file is installed as that file: the
// device's core cannot read zips (habits.tsv). Never for an arcade platform.
func (l *Layout) Unzip(libraryFolder string) bool {
	if l == nil || l.name == "" {
		return false
	}
	i, ok := l.cat.lookup(libraryFolder)
	if !ok || !l.selected(i) {
		return false
	}
	return habitOf(l.cat, mustHabits(), l.cat.platforms[i].ID, l.name) == HabitUnzip
}

// GameFolders reports whether the direct sub-folders of library folder
// libraryFolder are one game each (DOS, ScummVM), on every layout.
func GameFolders(libraryFolder string) bool {
	return HabitOf(libraryFolder, "") == HabitGameFolder
}

package platform

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Errors NewLayout wraps, for callers that act on them with errors.Is.
var (
	ErrUnknownLayout   = errors.New("unknown device layout")
	ErrUnknownPlatform = errors.New("unknown platform")
	ErrOverrideClash   = errors.New("conflicting overrides")
)

// Unknown says what Map does with a library folder that is no known platform.
type Unknown int

const (
	// UnknownKeep mirrors it under its own name; so is a known platform
	// that the layout has no folder for (PS2 on Onion).
	UnknownKeep Unknown = iota
	UnknownSkip         // leave both out
)

// Options select and adjust a device layout.
type Options struct {
	// Layout is a layout name or alias (see Layouts); "" keeps every library
	// folder name as it is.
	Layout string
	// Overrides maps a platform id or alias to the folder to use instead of
	// the layout's; it replaces <x>, so on pocket "gb2" gives
	// "Assets/gb2/common".
	Overrides map[string]string
	// Only, when not empty, limits the mirror to these platforms (ids or
	// aliases) and their variants ("md" selects megadrivejp too); every
	// other folder, unknown ones included, is skipped.
	Only []string
	// Unknown is the policy for folders that match no platform.
	Unknown Unknown
}

// Row is one line of a layout's table.
type Row struct {
	ID     string
	Name   string // DAT name
	Folder string // target path, as Map returns it
}

// Layout is a compiled device layout. It is immutable and safe for
// concurrent use.
type Layout struct {
	cat     *catalog
	name    string // canonical layout name; "" for none
	unknown Unknown
	only    map[int]bool // nil: every platform
	onlyIDs string       // the selected ids, for skip reasons
	targets map[int]string
	shared  map[string][]string
}

// NewLayout compiles o against the catalog.
func NewLayout(o Options) (*Layout, error) {
	c, err := loadCatalog()
	if err != nil {
		return nil, fmt.Errorf("platform catalog: %w", err)
	}
	if o.Unknown != UnknownKeep && o.Unknown != UnknownSkip {
		return nil, fmt.Errorf("unknown-folder policy %d: want UnknownKeep or UnknownSkip", o.Unknown)
	}
	l := &Layout{cat: c, unknown: o.Unknown, targets: map[int]string{}}
	path := "<x>"
	if strings.TrimSpace(o.Layout) != "" {
		info, ok := c.layout(o.Layout)
		if !ok {
			return nil, fmt.Errorf("layout %q: %w; valid layouts: %s", o.Layout, ErrUnknownLayout, c.layoutList())
		}
		l.name, path = info.name, info.path
	}

	if len(o.Only) > 0 {
		l.only = map[int]bool{}
		for _, name := range o.Only {
			i, ok := c.lookup(name)
			if !ok {
				return nil, fmt.Errorf("only %q: %w", name, ErrUnknownPlatform)
			}
			l.only[i] = true
		}
		var ids []string
		for _, i := range slices.Sorted(maps.Keys(l.only)) {
			ids = append(ids, c.platforms[i].ID)
		}
		l.onlyIDs = strings.Join(ids, ", ")
		for i, p := range c.platforms {
			if j, ok := c.primary[key(p.Parent)]; ok && p.Parent != "" && l.only[j] {
				l.only[i] = true
			}
		}
	}

	overrides := map[int]string{}
	from := map[int]string{}
	for _, name := range slices.Sorted(maps.Keys(o.Overrides)) {
		folder := o.Overrides[name]
		i, ok := c.lookup(name)
		if !ok {
			return nil, fmt.Errorf("override %q: %w", name, ErrUnknownPlatform)
		}
		if err := checkFolder(folder); err != nil {
			return nil, fmt.Errorf("override %q folder %q: %w", name, folder, err)
		}
		if prev, dup := overrides[i]; dup && prev != folder {
			return nil, fmt.Errorf("overrides %q and %q both name %s: %w: %q and %q",
				from[i], name, c.platforms[i].ID, ErrOverrideClash, prev, folder)
		}
		overrides[i], from[i] = folder, name
	}

	for i, p := range c.platforms {
		folder, ok := overrides[i]
		if !ok && l.name != "" {
			folder, ok = p.Folders[l.name]
		}
		if !ok {
			continue
		}
		if l.name != "" {
			folder = strings.Replace(path, "<x>", folder, 1)
		}
		l.targets[i] = folder
	}
	l.shared = l.findShared()
	return l, nil
}

// findShared groups the selected platforms by target folder, ignoring case
// as FAT and exFAT do; each group of two or more is keyed by the spelling of
// its first platform.
func (l *Layout) findShared() map[string][]string {
	groups := map[string][]int{}
	for _, i := range slices.Sorted(maps.Keys(l.targets)) {
		if l.selected(i) {
			k := strings.ToLower(l.targets[i])
			groups[k] = append(groups[k], i)
		}
	}
	out := map[string][]string{}
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		ids := make([]string, len(g))
		for n, i := range g {
			ids[n] = l.cat.platforms[i].ID
		}
		out[l.targets[g[0]]] = ids
	}
	return out
}

func (l *Layout) selected(i int) bool { return l.only == nil || l.only[i] }

// Name returns the canonical layout name, "" when there is none.
func (l *Layout) Name() string { return l.name }

// Map returns the target folder for a library platform folder name, relative
// to the profile target (see the package documentation), and the platform it
// stands for ("" when unknown). ok=false means "skip this folder", and reason
// says why: the folder is not a single valid name, its platform is not in
// Only, it is unknown and Only is set or the policy is UnknownSkip, or its
// platform has no folder on this layout and no override and the policy is
// UnknownSkip (UnknownKeep keeps it under its library name).
func (l *Layout) Map(libraryFolder string) (target string, platformID string, ok bool, reason string) {
	if libraryFolder == "" || libraryFolder == "." || libraryFolder == ".." ||
		strings.ContainsAny(libraryFolder, "/\x00") {
		return "", "", false, fmt.Sprintf("invalid folder name %q", libraryFolder)
	}
	i, found := l.cat.lookup(libraryFolder)
	if !found {
		switch {
		case l.only != nil:
			return "", "", false, fmt.Sprintf("no platform matches %q and only %s are selected", libraryFolder, l.onlyIDs)
		case l.unknown == UnknownSkip:
			return "", "", false, fmt.Sprintf("no platform matches %q", libraryFolder)
		}
		return libraryFolder, "", true, ""
	}
	p := &l.cat.platforms[i]
	if !l.selected(i) {
		return "", p.ID, false, fmt.Sprintf("%s is not selected (only %s)", p.Name, l.onlyIDs)
	}
	if t, ok := l.targets[i]; ok {
		return t, p.ID, true, ""
	}
	// A platform the layout has no folder for is unknown to the device:
	// UnknownKeep keeps it under its library name, as for a folder no
	// platform matches (the device may still read it, or the user moves it).
	if l.name == "" || l.unknown == UnknownKeep {
		return libraryFolder, p.ID, true, ""
	}
	return "", p.ID, false, fmt.Sprintf("no %s folder for %s (unknown: skip); set platforms: {%s: FOLDER} to choose one", l.name, p.Name, p.ID)
}

// Table lists the selected platforms that have a folder on this layout (or
// an override), sorted by ID, with the target path Map returns. With no
// layout it lists the overrides only.
func (l *Layout) Table() []Row {
	var rows []Row
	for i, p := range l.cat.platforms {
		if t, ok := l.targets[i]; ok && l.selected(i) {
			rows = append(rows, Row{ID: p.ID, Name: p.Name, Folder: t})
		}
	}
	return rows
}

// SharedFolders returns the target folders that two or more selected
// platforms map to, with their platform IDs sorted; the engine merges such
// platforms into one folder. Folders that differ only in case count as one.
func (l *Layout) SharedFolders() map[string][]string {
	out := make(map[string][]string, len(l.shared))
	for k, v := range l.shared {
		out[k] = slices.Clone(v)
	}
	return out
}

package platform

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

//go:embed catalog.tsv
var catalogTSV string

//go:embed layouts.tsv
var layoutsTSV string

// Platform is one catalog entry.
type Platform struct {
	ID      string
	Name    string            // No-Intro/Redump DAT name; for a system no DAT names, the firmware's full name
	Aliases []string          // other names a library folder may use
	Parent  string            // id of the platform this one is a variant of; "" for none
	Folders map[string]string // layout -> the device's folder for the platform
}

func (p Platform) clone() Platform {
	p.Aliases = slices.Clone(p.Aliases)
	p.Folders = maps.Clone(p.Folders)
	return p
}

// layoutInfo is one row of layouts.tsv.
type layoutInfo struct {
	name        string
	aliases     []string
	path        string // where <x> goes, relative to the profile target
	description string
}

// catalog is the parsed, indexed catalog; it is never modified after parsing.
type catalog struct {
	platforms []Platform // sorted by ID
	layouts   []layoutInfo
	layoutBy  map[string]int // layout name or alias -> index in layouts
	primary   map[string]int // id, DAT name and alias keys -> platform index
	keys      map[string]int // primary keys plus device folder keys
	makers    []string       // manufacturer keys, longest first
}

var loadCatalog = sync.OnceValues(func() (*catalog, error) {
	text, err := withVariants(catalogTSV, variantsTSV) // variant.go
	if err != nil {
		return nil, err
	}
	return parseCatalog(text, layoutsTSV)
})

func mustCatalog() *catalog {
	c, err := loadCatalog()
	if err != nil {
		panic("platform: embedded catalog: " + err.Error())
	}
	return c
}

// Catalog returns every platform, sorted by ID. The result is a copy.
func Catalog() []Platform {
	c := mustCatalog()
	out := make([]Platform, len(c.platforms))
	for i, p := range c.platforms {
		out[i] = p.clone()
	}
	return out
}

// Layouts returns the canonical layout names, sorted.
func Layouts() []string {
	c := mustCatalog()
	out := make([]string, len(c.layouts))
	for i, l := range c.layouts {
		out[i] = l.name
	}
	return out
}

// Lookup returns the platform a library folder name stands for.
func Lookup(folder string) (Platform, bool) {
	c := mustCatalog()
	i, ok := c.lookup(folder)
	if !ok {
		return Platform{}, false
	}
	return c.platforms[i].clone(), true
}

// tsvRows splits a TSV text into rows of fields, skipping blank lines and
// '#' comments; each row keeps its 1-based line number.
func tsvRows(text string) (rows [][]string, lines []int) {
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
		lines = append(lines, n+1)
	}
	return rows, lines
}

// isLayoutName reports whether s is a valid layout name or alias.
func isLayoutName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func parseLayouts(text string) ([]layoutInfo, map[string]int, error) {
	rows, lines := tsvRows(text)
	want := []string{"name", "aliases", "path", "description"}
	if len(rows) == 0 || !slices.Equal(rows[0], want) {
		return nil, nil, fmt.Errorf("layouts.tsv: header must be %q", strings.Join(want, "\t"))
	}
	var out []layoutInfo
	by := map[string]int{}
	for r, f := range rows[1:] {
		line := lines[r+1]
		if len(f) != len(want) {
			return nil, nil, fmt.Errorf("layouts.tsv:%d: %d fields, want %d", line, len(f), len(want))
		}
		l := layoutInfo{name: f[0], aliases: splitList(f[1]), path: f[2], description: f[3]}
		for _, n := range append([]string{l.name}, l.aliases...) {
			if !isLayoutName(n) {
				return nil, nil, fmt.Errorf("layouts.tsv:%d: layout name %q: want lower-case letters, digits and '-'", line, n)
			}
			if _, dup := by[n]; dup {
				return nil, nil, fmt.Errorf("layouts.tsv:%d: layout name %q used twice", line, n)
			}
			by[n] = len(out)
		}
		if err := checkPathTemplate(l.path); err != nil {
			return nil, nil, fmt.Errorf("layouts.tsv:%d: path %q: %w", line, l.path, err)
		}
		if strings.TrimSpace(l.description) == "" {
			return nil, nil, fmt.Errorf("layouts.tsv:%d: layout %s has no description", line, l.name)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("layouts.tsv: no layouts")
	}
	slices.SortFunc(out, func(a, b layoutInfo) int { return strings.Compare(a.name, b.name) })
	for i, l := range out {
		for _, n := range append([]string{l.name}, l.aliases...) {
			by[n] = i
		}
	}
	return out, by, nil
}

// checkPathTemplate checks a layout path: relative, clean, one "<x>" element.
func checkPathTemplate(p string) error {
	if strings.Count(p, "<x>") != 1 {
		return fmt.Errorf("must contain <x> exactly once")
	}
	for _, el := range strings.Split(p, "/") {
		if el == "<x>" {
			continue
		}
		if err := checkFolder(el); err != nil {
			return fmt.Errorf("element %q: %w", el, err)
		}
	}
	return nil
}

func splitList(cell string) []string {
	if strings.TrimSpace(cell) == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(cell, ";") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// parseCatalog parses and indexes the catalog; every defect is an error.
func parseCatalog(catalogText, layoutsText string) (*catalog, error) {
	layouts, layoutBy, err := parseLayouts(layoutsText)
	if err != nil {
		return nil, err
	}
	rows, lines := tsvRows(catalogText)
	if len(rows) == 0 {
		return nil, fmt.Errorf("catalog.tsv: empty")
	}
	header := rows[0]
	if len(header) < 5 || header[0] != "id" || header[1] != "name" || header[2] != "aliases" || header[3] != "of" ||
		header[len(header)-1] != "notes" {
		return nil, fmt.Errorf("catalog.tsv: header must be id, name, aliases, of, one column per layout, notes")
	}
	cols := header[firstLayoutColumn : len(header)-1]
	seen := map[string]bool{}
	for _, col := range cols {
		i, ok := layoutBy[col]
		if !ok || layouts[i].name != col {
			return nil, fmt.Errorf("catalog.tsv: column %q is not a layout of layouts.tsv", col)
		}
		if seen[col] {
			return nil, fmt.Errorf("catalog.tsv: column %q twice", col)
		}
		seen[col] = true
	}
	for _, l := range layouts {
		if !seen[l.name] {
			return nil, fmt.Errorf("catalog.tsv: no column for layout %q", l.name)
		}
	}

	var ps []Platform
	own := map[string]map[string]string{} // id -> the folders its row names itself
	ids := map[string]int{}
	for r, f := range rows[1:] {
		line := lines[r+1]
		if len(f) != len(header) {
			return nil, fmt.Errorf("catalog.tsv:%d: %d fields, want %d", line, len(f), len(header))
		}
		p := Platform{ID: f[0], Name: strings.TrimSpace(f[1]), Aliases: splitList(f[2]), Parent: f[3], Folders: map[string]string{}}
		if !isID(p.ID) {
			return nil, fmt.Errorf("catalog.tsv:%d: id %q: want lower-case letters and digits", line, p.ID)
		}
		if prev, dup := ids[p.ID]; dup {
			return nil, fmt.Errorf("catalog.tsv:%d: id %q already on line %d", line, p.ID, prev)
		}
		ids[p.ID] = line
		if p.Name == "" || p.Name != f[1] {
			return nil, fmt.Errorf("catalog.tsv:%d: %s: DAT name empty or padded", line, p.ID)
		}
		if key(p.Name) == "" {
			return nil, fmt.Errorf("catalog.tsv:%d: %s: DAT name %q has no letters or digits", line, p.ID, p.Name)
		}
		for _, a := range p.Aliases {
			if key(a) == "" {
				return nil, fmt.Errorf("catalog.tsv:%d: %s: alias %q has no letters or digits", line, p.ID, a)
			}
		}
		for j, col := range cols {
			folder := f[firstLayoutColumn+j]
			if folder == "" {
				continue
			}
			if err := checkFolder(folder); err != nil {
				return nil, fmt.Errorf("catalog.tsv:%d: %s %s folder %q: %w", line, p.ID, col, folder, err)
			}
			if key(folder) == "" {
				return nil, fmt.Errorf("catalog.tsv:%d: %s %s folder %q has no letters or digits", line, p.ID, col, folder)
			}
			p.Folders[col] = folder
		}
		own[p.ID] = maps.Clone(p.Folders)
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("catalog.tsv: no platforms")
	}
	if err := inheritFolders(ps, ids); err != nil {
		return nil, err
	}
	slices.SortFunc(ps, func(a, b Platform) int { return strings.Compare(a.ID, b.ID) })

	c := &catalog{platforms: ps, layouts: layouts, layoutBy: layoutBy, primary: map[string]int{}, keys: map[string]int{}}
	if err := c.index(own); err != nil {
		return nil, err
	}
	return c, nil
}

// firstLayoutColumn is the index of the first layout column of catalog.tsv.
const firstLayoutColumn = 4

// inheritFolders gives each variant (a row whose "of" names its parent) the
// parent's folder on every layout where its own row names none: a regional
// or model variant (ES-DE's megadrivejp, snesna, amiga1200) goes where its
// parent goes unless that device has a folder of its own for it.
func inheritFolders(ps []Platform, lines map[string]int) error {
	byID := map[string]int{}
	for i, p := range ps {
		byID[p.ID] = i
	}
	for i := range ps {
		p := &ps[i]
		if p.Parent == "" {
			continue
		}
		j, ok := byID[p.Parent]
		switch {
		case !ok:
			return fmt.Errorf("catalog.tsv:%d: %s is a variant of %q, which is no platform", lines[p.ID], p.ID, p.Parent)
		case j == i:
			return fmt.Errorf("catalog.tsv:%d: %s is a variant of itself", lines[p.ID], p.ID)
		case ps[j].Parent != "":
			return fmt.Errorf("catalog.tsv:%d: %s is a variant of %s, itself a variant: name the platform %s is a variant of",
				lines[p.ID], p.ID, ps[j].ID, ps[j].ID)
		}
		for l, folder := range ps[j].Folders {
			if _, set := p.Folders[l]; !set {
				p.Folders[l] = folder
			}
		}
	}
	return nil
}

// index builds the key tables and the manufacturer list. own holds each
// platform's own folders: a folder a variant inherits is its parent's claim.
func (c *catalog) index(own map[string]map[string]string) error {
	for i, p := range c.platforms {
		for _, name := range append([]string{p.ID, p.Name}, p.Aliases...) {
			k := key(name)
			if j, taken := c.primary[k]; taken && j != i {
				return fmt.Errorf("catalog.tsv: %q of %s has the key %q of %s", name, p.ID, k, c.platforms[j].ID)
			}
			c.primary[k] = i
		}
	}
	maps.Copy(c.keys, c.primary)

	claims := map[string][]int{} // device key -> platforms, ascending, no repeats
	for i, p := range c.platforms {
		for _, folder := range own[p.ID] {
			k := key(folder)
			if !slices.Contains(claims[k], i) {
				claims[k] = append(claims[k], i)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		if _, ok := c.primary[k]; ok {
			continue
		}
		owners := claims[k]
		if len(owners) > 1 {
			ids := make([]string, len(owners))
			for n, i := range owners {
				ids[n] = c.platforms[i].ID
			}
			return fmt.Errorf("catalog.tsv: device folder key %q is shared by %s: add it to the aliases of the platform it means",
				k, strings.Join(ids, ", "))
		}
		c.keys[k] = owners[0]
	}

	// A manufacturer is the first " - " segment of a DAT name, unless that
	// segment is itself a platform's primary key ("FBNeo - Arcade Games").
	makers := map[string]bool{}
	for _, p := range c.platforms {
		first, _, ok := strings.Cut(p.Name, " - ")
		if !ok {
			continue
		}
		if k := key(first); k != "" {
			if _, isPlatform := c.primary[k]; !isPlatform {
				makers[k] = true
			}
		}
	}
	c.makers = slices.Sorted(maps.Keys(makers))
	slices.SortStableFunc(c.makers, func(a, b string) int { return len(b) - len(a) })
	return nil
}

// layout returns the layout named name (canonical or alias, any case).
func (c *catalog) layout(name string) (layoutInfo, bool) {
	i, ok := c.layoutBy[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return layoutInfo{}, false
	}
	return c.layouts[i], true
}

// layoutList describes the valid layout names for error messages.
func (c *catalog) layoutList() string {
	var b strings.Builder
	for i, l := range c.layouts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.name)
		if len(l.aliases) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(l.aliases, ", "))
		}
	}
	return b.String()
}

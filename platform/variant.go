package platform

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
)

//go:embed variants.tsv
var variantsTSV string

// A layout variant is a layout of layouts.tsv that is another layout with
// some platforms in other folders (mister-mgl: MiSTer with the folders of
// its .mgl launchers). variants.tsv lists only the differences, each with
// its source; withVariants writes the variant's catalog.tsv column from
// the base layout's column, so the catalog's checks (folder names, shared
// device keys, variant inheritance) hold for it as for any layout.

// variant is one layout variant of variants.tsv.
type variant struct {
	name, base string
	folders    map[string]string // platform id -> folder
}

// parseVariants reads variants.tsv.
func parseVariants(text string) ([]variant, error) {
	rows, lines := tsvRows(text)
	want := []string{"layout", "base", "platform", "folder", "source"}
	if len(rows) == 0 || !slices.Equal(rows[0], want) {
		return nil, fmt.Errorf("variants.tsv: header must be %q", strings.Join(want, "\t"))
	}
	by := map[string]*variant{}
	for r, f := range rows[1:] {
		line := lines[r+1]
		if len(f) != len(want) {
			return nil, fmt.Errorf("variants.tsv:%d: %d fields, want %d", line, len(f), len(want))
		}
		name, base, id, folder, source := f[0], f[1], f[2], f[3], f[4]
		if !isLayoutName(name) || !isLayoutName(base) || name == base {
			return nil, fmt.Errorf("variants.tsv:%d: layout %q of %q: want two different layout names", line, name, base)
		}
		if strings.TrimSpace(source) == "" {
			return nil, fmt.Errorf("variants.tsv:%d: %s %s: no source", line, name, id)
		}
		if err := checkFolder(folder); err != nil {
			return nil, fmt.Errorf("variants.tsv:%d: %s %s folder %q: %w", line, name, id, folder, err)
		}
		v := by[name]
		if v == nil {
			v = &variant{name: name, base: base, folders: map[string]string{}}
			by[name] = v
		}
		if v.base != base {
			return nil, fmt.Errorf("variants.tsv:%d: %s is a variant of %s and of %s", line, name, v.base, base)
		}
		if _, dup := v.folders[id]; dup {
			return nil, fmt.Errorf("variants.tsv:%d: %s %s twice", line, name, id)
		}
		v.folders[id] = folder
	}
	var out []variant
	for _, name := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[name])
	}
	return out, nil
}

// withVariants returns catalogText with one column per variant of
// variantsText, inserted before the notes column: the base layout's cell,
// or the variant's folder where variants.tsv names one. Comments and line
// numbers are kept, so parseCatalog's messages point at catalog.tsv.
func withVariants(catalogText, variantsText string) (string, error) {
	vs, err := parseVariants(variantsText)
	if err != nil || len(vs) == 0 {
		return catalogText, err
	}
	lines := strings.Split(catalogText, "\n")
	var base []int // per variant: the base layout's column
	used := map[string]map[string]bool{}
	for n, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < firstLayoutColumn+1 {
			continue // parseCatalog says what is wrong with it
		}
		if base == nil {
			for _, v := range vs {
				i := slices.Index(f[firstLayoutColumn:len(f)-1], v.base)
				if i < 0 {
					return "", fmt.Errorf("variants.tsv: %s: base layout %q has no catalog.tsv column", v.name, v.base)
				}
				if slices.Contains(f, v.name) {
					return "", fmt.Errorf("variants.tsv: %s: catalog.tsv has a column of that name", v.name)
				}
				base = append(base, firstLayoutColumn+i)
				f = slices.Insert(f, len(f)-1, v.name)
				used[v.name] = map[string]bool{}
			}
			lines[n] = strings.Join(f, "\t")
			continue
		}
		cells := make([]string, len(vs))
		for j, v := range vs {
			if base[j] < len(f)-1 {
				cells[j] = f[base[j]]
			}
			if folder, ok := v.folders[f[0]]; ok {
				cells[j] = folder
				used[v.name][f[0]] = true
			}
		}
		f = slices.Insert(f, len(f)-1, cells...)
		lines[n] = strings.Join(f, "\t")
	}
	for _, v := range vs {
		for _, id := range slices.Sorted(maps.Keys(v.folders)) {
			if !used[v.name][id] {
				return "", fmt.Errorf("variants.tsv: %s: %q is no catalog platform", v.name, id)
			}
		}
	}
	return strings.Join(lines, "\n"), nil
}

// variantBases maps each layout variant to the layout it is a variant of.
func variantBases() map[string]string {
	vs, err := parseVariants(variantsTSV)
	if err != nil {
		panic("platform: embedded variants: " + err.Error())
	}
	out := make(map[string]string, len(vs))
	for _, v := range vs {
		out[v.name] = v.base
	}
	return out
}

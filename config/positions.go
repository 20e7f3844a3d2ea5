package config

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// positions are the lines of a configuration file's keys, read from its
// YAML node tree: viper keeps none.
type positions struct {
	top      map[string]int // top-level key (lower case) -> line
	topOrder []string       // top-level keys in file order
	profiles []profilePos
}

// profilePos is where one item of profiles is, and its keys.
type profilePos struct {
	index int
	line  int
	keys  map[string]int // key (lower case) -> line
	order []string       // keys in file order
}

func (p profilePos) lineOf(key string) int {
	base, _, _ := strings.Cut(key, "[")
	base, _, _ = strings.Cut(base, ".") // cards.adopt: the line of cards
	if l, ok := p.keys[base]; ok {
		return l
	}
	return p.line
}

// unknown returns the keys of m that are not profile keys, in file order
// (any the file does not list, sorted, after them).
func (p profilePos) unknown(m map[string]any) []string {
	var out []string
	listed := map[string]bool{}
	for _, k := range p.order {
		listed[k] = true
		if _, ok := m[k]; ok && !profileKeys[k] {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range m {
		if !profileKeys[k] && !listed[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (ps positions) profile(i int) profilePos {
	if i < len(ps.profiles) {
		return ps.profiles[i]
	}
	return profilePos{index: i, keys: map[string]int{}}
}

// positionsOf reads the key lines of data; a file YAML cannot parse has none
// (the parse error names its line).
func positionsOf(data []byte) positions {
	ps := positions{top: map[string]int{}}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return ps
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := strings.ToLower(k.Value)
		if _, dup := ps.top[name]; !dup {
			ps.topOrder = append(ps.topOrder, name)
		}
		ps.top[name] = k.Line
		if name != "profiles" || v.Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range v.Content {
			pp := profilePos{index: j, line: item.Line, keys: map[string]int{}}
			if item.Kind == yaml.MappingNode {
				for n := 0; n+1 < len(item.Content); n += 2 {
					pk := item.Content[n]
					key := strings.ToLower(pk.Value)
					if _, dup := pp.keys[key]; !dup {
						pp.order = append(pp.order, key)
					}
					pp.keys[key] = pk.Line
				}
			}
			ps.profiles = append(ps.profiles, pp)
		}
	}
	return ps
}

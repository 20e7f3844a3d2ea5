package platform

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// key returns the normalised matching key of a name: compatibility
// decomposition, accents on Latin letters and marks on nothing dropped ("é"
// is "e"; the marks of other scripts, such as the kana voicing marks, are
// kept), "&" as "and", "+" as "plus", lower case, letters, digits and kept
// marks only.
func key(name string) string {
	var b strings.Builder
	dropMarks := true // the last rune was no letter of a non-Latin script
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
			if !dropMarks {
				b.WriteRune(r)
			}
		case r == '&':
			b.WriteString("and")
			dropMarks = true
		case r == '+':
			b.WriteString("plus")
			dropMarks = true
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
			dropMarks = r < utf8.RuneSelf || unicode.Is(unicode.Latin, r)
		default:
			dropMarks = true
		}
	}
	return b.String()
}

// lookup resolves a library folder name to a platform index.
func (c *catalog) lookup(folder string) (int, bool) {
	full := strings.TrimSpace(folder)
	if i, ok := c.keys[key(full)]; ok {
		return i, true
	}
	base, groups := splitTrailingGroups(full)
	if base != full {
		if i, ok := c.keys[key(base)]; ok {
			return i, true
		}
	}
	for _, name := range []string{full, base} {
		if i, ok := c.withoutMaker(key(name)); ok {
			return i, true
		}
	}
	for _, g := range groups {
		if i, ok := c.primary[key(g)]; ok {
			return i, true
		}
	}
	return 0, false
}

// withoutMaker looks k up, less a leading manufacturer, among primary keys.
func (c *catalog) withoutMaker(k string) (int, bool) {
	for _, m := range c.makers {
		rest, ok := strings.CutPrefix(k, m)
		if !ok || rest == "" {
			continue
		}
		if i, ok := c.primary[rest]; ok {
			return i, true
		}
	}
	return 0, false
}

// splitTrailingGroups strips trailing "(...)" and "[...]" groups from s and
// returns what is left and the groups' contents, rightmost first.
func splitTrailingGroups(s string) (base string, groups []string) {
	base = strings.TrimRightFunc(s, unicode.IsSpace)
	for base != "" {
		last := base[len(base)-1]
		var open byte
		switch last {
		case ')':
			open = '('
		case ']':
			open = '['
		default:
			return base, groups
		}
		depth, start := 0, -1
		for i := len(base) - 1; i >= 0; i-- {
			switch base[i] {
			case last:
				depth++
			case open:
				depth--
			}
			if depth == 0 {
				start = i
				break
			}
		}
		if start < 0 {
			return base, groups
		}
		groups = append(groups, base[start+1:len(base)-1])
		base = strings.TrimRightFunc(base[:start], unicode.IsSpace)
	}
	return base, groups
}

// ErrInvalidFolder is returned for a folder name a target cannot hold.
var ErrInvalidFolder = errors.New("invalid folder name")

// checkFolder reports why name cannot be one folder on a FAT or exFAT target.
func checkFolder(name string) error {
	why := ""
	switch {
	case name == "":
		why = "empty"
	case name == "." || name == "..":
		why = "is " + name
	case len(name) > 255:
		why = "longer than 255 bytes"
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case strings.ContainsAny(name, `/\`):
		why = "contains a path separator"
	case strings.ContainsFunc(name, unicode.IsControl):
		why = "contains a control character"
	case strings.ContainsAny(name, `"*:<>?|`):
		why = `contains one of " * : < > ? | that FAT and exFAT reject`
	case strings.TrimSpace(name) != name:
		why = "begins or ends with a space"
	case strings.HasSuffix(name, "."):
		why = "ends with a dot, which FAT drops"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidFolder, why)
}

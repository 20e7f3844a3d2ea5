package platform

import (
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"
)

//go:embed discs.tsv
var discsTSV string

// DiscStyle is how a layout's firmware wants a game of several discs laid
// out so that it shows as one game (discs.tsv).
type DiscStyle string

// The multi-disc styles.
const (
	// DiscsAsIs: the firmware wants no shape; discs are mirrored as they are.
	DiscsAsIs DiscStyle = ""
	// DiscsHidden: discs in a hidden ".Title" folder, "Title.m3u" beside it
	// listing ".Title/<disc>" (Onion).
	DiscsHidden DiscStyle = "hidden"
	// DiscsFolder: discs and "Title.m3u" in a "Title" folder, the m3u
	// listing "<disc>" (MinUI).
	DiscsFolder DiscStyle = "folder"
	// DiscsFlat: discs stay, "Title.m3u" beside them listing "<disc>"; the
	// frontend hides the files a playlist lists (muOS, Batocera, ROCKNIX).
	DiscsFlat DiscStyle = "flat"
)

// discRow is one row of discs.tsv.
type discRow struct {
	style  DiscStyle
	source string
}

var loadDiscs = sync.OnceValues(func() (map[string]discRow, error) {
	return parseDiscs(discsTSV)
})

// parseDiscs reads discs.tsv: layout, style, source; every layout must be
// a canonical layout name and every row must cite its source.
func parseDiscs(text string) (map[string]discRow, error) {
	c, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	out := map[string]discRow{}
	header := false
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if !header {
			if line != "layout\tstyle\tsource" {
				return nil, fmt.Errorf("discs.tsv:%d: header must be \"layout\\tstyle\\tsource\"", i+1)
			}
			header = true
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("discs.tsv:%d: %d fields, want 3", i+1, len(f))
		}
		info, ok := c.layout(f[0])
		if !ok || info.name != f[0] {
			return nil, fmt.Errorf("discs.tsv:%d: %q is no canonical layout name", i+1, f[0])
		}
		st := DiscStyle(f[1])
		if st != DiscsHidden && st != DiscsFolder && st != DiscsFlat {
			return nil, fmt.Errorf("discs.tsv:%d: style %q: want hidden, folder or flat", i+1, f[1])
		}
		if strings.TrimSpace(f[2]) == "" {
			return nil, fmt.Errorf("discs.tsv:%d: layout %s cites no source", i+1, f[0])
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("discs.tsv:%d: layout %s listed twice", i+1, f[0])
		}
		out[f[0]] = discRow{style: st, source: f[2]}
	}
	return out, nil
}

// DiscStyle returns how the layout's firmware wants multi-disc games, and
// the firmware file that says so ("" for a layout mirrored as is).
func (l *Layout) DiscStyle() (DiscStyle, string) {
	if l == nil || l.name == "" {
		return DiscsAsIs, ""
	}
	rows, err := loadDiscs()
	if err != nil {
		panic("platform: embedded discs.tsv: " + err.Error())
	}
	r := rows[l.name]
	return r.style, r.source
}

// FormatDiscStyle writes one line saying how l lays out multi-disc games,
// with the firmware file that says so.
func FormatDiscStyle(w io.Writer, l *Layout) error {
	style, src := l.DiscStyle()
	var line string
	switch style {
	case DiscsHidden:
		line = "multi-disc games: discs in a hidden .Title folder, Title.m3u beside it"
	case DiscsFolder:
		line = "multi-disc games: a Title folder holding the discs and Title.m3u"
	case DiscsFlat:
		line = "multi-disc games: Title.m3u beside the discs (the frontend hides the discs it lists)"
	default:
		line = "multi-disc games: mirrored as they are"
	}
	if src != "" {
		line += " (source: " + src + ")"
	}
	if _, err := fmt.Fprintf(w, "\n%s\n", line); err != nil {
		return fmt.Errorf("format layout %s: %w", l.name, err)
	}
	return nil
}

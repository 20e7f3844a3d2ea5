package platform

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// FormatTable writes l's table (ID, DAT name, folder) aligned in columns,
// noting the folders that several platforms share.
func FormatTable(w io.Writer, l *Layout) error {
	if l == nil {
		return errors.New("format layout table: nil layout")
	}
	shareOf := map[string][]string{}
	for _, ids := range l.shared {
		for _, id := range ids {
			shareOf[id] = ids
		}
	}
	lines := [][]string{{"ID", "DAT NAME", "FOLDER", ""}}
	for _, r := range l.Table() {
		note := ""
		if ids := shareOf[r.ID]; ids != nil {
			others := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == r.ID })
			note = "shared with " + strings.Join(others, ", ")
		}
		lines = append(lines, []string{r.ID, r.Name, r.Folder, note})
	}
	if err := writeColumns(w, lines); err != nil {
		return fmt.Errorf("format layout table %s: %w", l.name, err)
	}
	return nil
}

// writeColumns writes cells aligned in columns two spaces apart, with no
// trailing spaces: empty trailing cells end a line early.
func writeColumns(w io.Writer, lines [][]string) error {
	var width []int
	for _, cells := range lines {
		for i, c := range cells {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, cells := range lines {
		n := len(cells)
		for n > 0 && cells[n-1] == "" {
			n--
		}
		for i, c := range cells[:n] {
			b.WriteString(c)
			if i < n-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FormatLayouts lists the layouts, one line each: name, device family and
// where the folders live, and the other names the layout answers to.
func FormatLayouts(w io.Writer) error {
	c, err := loadCatalog()
	if err != nil {
		return fmt.Errorf("format layouts: platform catalog: %w", err)
	}
	var lines [][]string
	for _, l := range c.layouts {
		line := l.description
		if len(l.aliases) > 0 {
			line += " (also: " + strings.Join(l.aliases, ", ") + ")"
		}
		lines = append(lines, []string{l.name, line})
	}
	if err := writeColumns(w, lines); err != nil {
		return fmt.Errorf("format layouts: %w", err)
	}
	return nil
}

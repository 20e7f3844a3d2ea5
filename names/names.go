// Package names maps file names to names a FAT or exFAT card accepts,
// reversibly, in NFC, and gives the collision key under which two names would
// be the same file on the target.
//
// The FAT mapping is the one rclone uses for Windows: the characters
// " * : < > ? \ | become their fullwidth look-alikes ＂ ＊ ： ＜ ＞ ？ ＼ ｜,
// control characters U+0001–U+001F become the control pictures U+2401–U+241F,
// and a trailing space or dot becomes ␠ (U+2420) or ． (U+FF0E). Names stay
// readable on the handheld and Unmap restores the source name.
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

var (
	// ErrNameTooLong means the mapped name exceeds the target's limit. Names
	// are never truncated: two long names could become one.
	ErrNameTooLong = errors.New("name too long for the target")
	// ErrInvalidName means no file can have the name on the target: "", ".",
	// "..", a name with '/' or NUL, and on FAT targets a name that is not
	// valid UTF-8 or (Rules.ASCII) that holds more than printable ASCII.
	ErrInvalidName = errors.New("invalid file name")
)

// DefaultMaxName is the name length limit used when Rules.MaxNameBytes is 0:
// 255, the limit of every filesystem romsyncd targets.
const DefaultMaxName = 255

// fatRejected are the printable characters FAT and exFAT refuse in names.
const fatRejected = `"*:<>?\|`

const (
	// fullwidthOffset maps a printable ASCII character to its fullwidth form:
	// ':' (U+003A) + 0xFEE0 = '：' (U+FF1A).
	fullwidthOffset = 0xFEE0
	// controlPictures maps U+0000–U+001F to the symbols U+2400–U+241F.
	controlPictures = 0x2400
	trailingSpace   = '\u2420' // ␠ SYMBOL FOR SPACE
	trailingDot     = '\uFF0E' // ． FULLWIDTH FULL STOP
)

// Rules say what names a target accepts. The caller builds them from
// targetfs.Info:
//
//	names.Rules{FAT: info.FATNames, CaseInsensitive: info.CaseInsensitive,
//		MaxNameBytes: info.MaxNameBytes, ASCII: !info.Unicode}
type Rules struct {
	// FAT applies the FAT mapping and counts name length in UTF-16 code
	// units, as FAT and exFAT store names.
	FAT bool
	// CaseInsensitive makes Key fold case: the target finds a file under any
	// casing of its name.
	CaseInsensitive bool
	// MaxNameBytes is the longest name the target takes: bytes of UTF-8, or
	// UTF-16 code units when FAT is set (255 on FAT and exFAT). 0 means
	// DefaultMaxName.
	MaxNameBytes int
	// ASCII is set for targets that store only printable ASCII names
	// (U+0020–U+007E): fusefat, and vfat mounted with a legacy iocharset.
	// Map then fails with ErrInvalidName for a name that needs anything
	// else, including the FAT look-alikes, instead of the target failing the
	// copy. Stricter than vfat with a Latin-1 iocharset needs: conservative.
	ASCII bool
}

// Map returns the name under which a source file called name is stored on the
// target: name in NFC, with the FAT mapping applied when r.FAT is set. The
// mapping is deterministic and never truncates. It fails with ErrInvalidName
// or ErrNameTooLong (both wrapped with the name).
func (r Rules) Map(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("name %q: %w", name, ErrInvalidName)
	}
	if (r.FAT || r.ASCII) && !utf8.ValidString(name) {
		return "", fmt.Errorf("name %q: %w: not valid UTF-8", name, ErrInvalidName)
	}
	mapped := norm.NFC.String(name)
	if r.FAT {
		mapped = fatMap(mapped)
	}
	if r.ASCII {
		for _, c := range mapped {
			if c < 0x20 || c > 0x7e {
				return "", fmt.Errorf("name %q: %w: the target stores only ASCII names, not %q", name, ErrInvalidName, c)
			}
		}
	}
	limit := r.MaxNameBytes
	if limit <= 0 {
		limit = DefaultMaxName
	}
	n, unit := len(mapped), "bytes"
	if r.FAT {
		n, unit = utf16Len(mapped), "UTF-16 code units"
	}
	if n > limit {
		return "", fmt.Errorf("name %q: %w: %d %s, limit %d", name, ErrNameTooLong, n, unit, limit)
	}
	return mapped, nil
}

// fatMap applies the FAT mapping to the valid UTF-8 string s.
func fatMap(s string) string {
	if !needsFATMap(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, c := range s {
		switch {
		case c < 0x20:
			c += controlPictures
		case c < utf8.RuneSelf && strings.ContainsRune(fatRejected, c):
			c += fullwidthOffset
		}
		b.WriteRune(c)
	}
	out := b.String()
	switch out[len(out)-1] {
	case ' ':
		out = out[:len(out)-1] + string(trailingSpace)
	case '.':
		out = out[:len(out)-1] + string(trailingDot)
	}
	return out
}

func needsFATMap(s string) bool {
	if s == "" {
		return false
	}
	if last := s[len(s)-1]; last == ' ' || last == '.' {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || strings.IndexByte(fatRejected, c) >= 0 {
			return true
		}
	}
	return false
}

// utf16Len returns the number of UTF-16 code units of s.
func utf16Len(s string) int {
	n := 0
	for _, c := range s {
		n += utf16.RuneLen(c)
	}
	return n
}

// Unmap inverts the FAT mapping: look-alikes become the characters they stand
// for, control pictures U+2401–U+241F control characters, and a trailing ␠ or
// ． a space or dot.
//
// A source name that already holds a look-alike maps to itself, so two
// source files "a:b" and "a：b" both map to "a：b" and Unmap gives "a:b"
// for it: the mapping is reversible only for names without look-alikes. The
// caller detects such collisions by comparing Key of the mapped names. Unmap
// never returns "." or ".." (it then returns name unchanged).
func Unmap(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	changed := false
	for i := 0; i < len(name); {
		c, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			b.WriteByte(name[i]) // not UTF-8: kept as it is
			i++
			continue
		case c > controlPictures && c < controlPictures+0x20:
			c -= controlPictures
			changed = true
		case c >= fullwidthOffset+0x20 && c < fullwidthOffset+utf8.RuneSelf &&
			strings.ContainsRune(fatRejected, c-fullwidthOffset):
			c -= fullwidthOffset
			changed = true
		}
		b.WriteRune(c)
		i += size
	}
	out := b.String()
	if s, ok := strings.CutSuffix(out, string(trailingSpace)); ok {
		out, changed = s+" ", true
	} else if s, ok := strings.CutSuffix(out, string(trailingDot)); ok {
		out, changed = s+".", true
	}
	if !changed || out == "." || out == ".." {
		return name
	}
	return out
}

// Key returns the collision key of a mapped name: two names with equal keys
// are the same file on the target. It is the name in NFC and, when
// r.CaseInsensitive, with full Unicode case folding (cases.Fold) applied to
// its canonical decomposition. Full folding equates "Straße" and "STRASSE",
// which exFAT's simple up-case table does not: the key errs on the side of
// reporting a collision.
func (r Rules) Key(mapped string) string {
	if !r.CaseInsensitive {
		return norm.NFC.String(mapped)
	}
	// Canonical caseless matching (Unicode §3.13): NFD before folding, as
	// folding is not closed under composition (U+01F0 ǰ folds to j + U+030C).
	return norm.NFC.String(cases.Fold().String(norm.NFD.String(mapped)))
}

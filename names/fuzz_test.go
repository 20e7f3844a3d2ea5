package names

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func addSeeds(f *testing.F) {
	for _, s := range cardNames() {
		f.Add(s)
	}
	for _, s := range []string{"", ".", "..", "a/b", "a\x00b", "\xff", "ǰ", "İ", "ΐ", "ﬃ", "ẞ", "\u0345", "a．", "．", ".．", "␀", "a\u2420"} {
		f.Add(s)
	}
}

// FuzzMap checks that Map never panics and that what it returns is a name a
// FAT card takes, in NFC, stable under Map, Unmap and Key.
func FuzzMap(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, name string) {
		for _, rules := range []Rules{fat, fatASCII, linux} {
			mapped, err := rules.Map(name)
			if err != nil {
				if !errors.Is(err, ErrInvalidName) && !errors.Is(err, ErrNameTooLong) {
					t.Fatalf("%+v Map(%q): unexpected error %v", rules, name, err)
				}
				continue
			}
			checkMapped(t, rules, name, mapped)
		}
	})
}

func checkMapped(t *testing.T, rules Rules, name, mapped string) {
	t.Helper()
	if mapped == "" || mapped == "." || mapped == ".." || strings.ContainsAny(mapped, "/\x00") {
		t.Fatalf("%+v Map(%q) = %q: not a file name", rules, name, mapped)
	}
	if utf8.ValidString(name) && !utf8.ValidString(mapped) {
		t.Fatalf("%+v Map(%q) = %q: not valid UTF-8", rules, name, mapped)
	}
	if utf8.ValidString(mapped) && !norm.NFC.IsNormalString(mapped) {
		t.Fatalf("%+v Map(%q) = %q: not NFC", rules, name, mapped)
	}
	if len(mapped) > 255 && !rules.FAT || utf16Len(mapped) > 255 {
		t.Fatalf("%+v Map(%q) = %q: too long", rules, name, mapped)
	}
	if k := rules.Key(mapped); rules.Key(k) != k {
		t.Fatalf("%+v Key(%q) = %q, Key of that = %q: not idempotent", rules, mapped, k, rules.Key(k))
	}
	if rules.Key(norm.NFD.String(mapped)) != rules.Key(mapped) {
		t.Fatalf("%+v Key(%q) differs between NFD and NFC", rules, mapped)
	}
	if !rules.FAT {
		return
	}
	if i := strings.IndexAny(mapped, fatRejected); i >= 0 {
		t.Fatalf("Map(%q) = %q: holds %q", name, mapped, mapped[i])
	}
	for _, c := range mapped {
		if c < 0x20 {
			t.Fatalf("Map(%q) = %q: holds control character %q", name, mapped, c)
		}
	}
	if strings.HasSuffix(mapped, ".") || strings.HasSuffix(mapped, " ") {
		t.Fatalf("Map(%q) = %q: trailing dot or space", name, mapped)
	}
	if again, err := rules.Map(mapped); err != nil || again != mapped {
		t.Fatalf("Map(Map(%q)) = %q, %v; want %q", name, again, err, mapped)
	}
	if again, err := rules.Map(Unmap(mapped)); err != nil || again != mapped {
		t.Fatalf("Map(Unmap(Map(%q))) = %q, %v; want %q", name, again, err, mapped)
	}
	if nfc := norm.NFC.String(name); !hasLookalike(nfc) && Unmap(mapped) != nfc {
		t.Fatalf("Unmap(Map(%q)) = %q, want %q", name, Unmap(mapped), nfc)
	}
}

// FuzzUnmap checks that Unmap never panics and never makes an invalid name
// out of a valid one.
func FuzzUnmap(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, name string) {
		got := Unmap(name)
		if !hasLookalike(name) && got != name {
			t.Fatalf("Unmap(%q) = %q: changed a name without look-alikes", name, got)
		}
		if name != "" && name != "." && name != ".." && (got == "." || got == "..") {
			t.Fatalf("Unmap(%q) = %q", name, got)
		}
		if !strings.ContainsAny(name, "/\x00") && strings.ContainsAny(got, "/\x00") {
			t.Fatalf("Unmap(%q) = %q: holds '/' or NUL", name, got)
		}
		if utf8.ValidString(name) != utf8.ValidString(got) {
			t.Fatalf("Unmap(%q) = %q: UTF-8 validity changed", name, got)
		}
	})
}

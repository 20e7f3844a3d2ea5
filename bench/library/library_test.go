package library

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// tiny is a custom preset small enough to write in a test.
var tiny = Preset{
	Name: "tiny", Folders: 5, Files: 60, Spread: 50,
	Sizes: SizeDist{Min: 256, Max: 64 << 10, Decay: 80, PowerOfTwoPct: 50},
	Discs: 2, DiscMin: 100 * cdSector, DiscMax: 300 * cdSector,
}

// treeDigest describes every entry under dir: path, kind, size, mtime (to the
// nanosecond) and content hash.
func treeDigest(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", rel, info.Mode(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d %s", info.Size(), hex.EncodeToString(h.Sum(nil)))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func generate(t *testing.T, p Preset, seed uint64) string {
	t.Helper()
	lib, err := Plan(p, seed)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "lib")
	if err := Write(context.Background(), dir, lib, 3); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSameSeedSameTree(t *testing.T) {
	a := treeDigest(t, generate(t, tiny, 7))
	b := treeDigest(t, generate(t, tiny, 7))
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("two generations with seed 7 differ:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if want := 1 + tiny.Folders + 1 + tiny.Files + 2*tiny.Discs; len(a) != want {
		t.Fatalf("got %d entries, want %d", len(a), want)
	}
	c := treeDigest(t, generate(t, tiny, 8))
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatal("seeds 7 and 8 gave the same tree")
	}
}

func TestMutateIsDeterministic(t *testing.T) {
	m := Mutations["small-change"]
	var digests [2][]string
	for i := range digests {
		dir := generate(t, tiny, 3)
		before := treeDigest(t, dir)
		changes, err := Mutate(dir, m, 3)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, c := range changes {
			counts[c.Op]++
		}
		if counts["modify"] != m.Modify || counts["add"] != m.Add || counts["delete"] != m.Delete {
			t.Fatalf("changes %v, want %+v", counts, m)
		}
		digests[i] = treeDigest(t, dir)
		if got, want := len(digests[i]), len(before)+m.Add-m.Delete; got != want {
			t.Fatalf("%d entries after mutation, want %d", got, want)
		}
		if strings.Join(before, "\n") == strings.Join(digests[i], "\n") {
			t.Fatal("mutation changed nothing")
		}
	}
	if strings.Join(digests[0], "\n") != strings.Join(digests[1], "\n") {
		t.Fatal("the same mutation of the same library differs")
	}
}

func TestMutateKeepsHardLinkedOriginal(t *testing.T) {
	dir := generate(t, tiny, 4)
	copyDir := filepath.Join(t.TempDir(), "copy")
	before := treeDigest(t, dir)
	// Hard-link the library (cp -al) and mutate the copy.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(copyDir, rel), 0o755)
		}
		return os.Link(p, filepath.Join(copyDir, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Mutate(copyDir, Mutations["small-change"], 4); err != nil {
		t.Fatal(err)
	}
	if after := treeDigest(t, dir); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatal("mutating a hard-linked copy changed the original")
	}
}

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			p := Presets[name]
			lib, err := Plan(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			wantFolders := p.Folders
			if p.Discs > 0 {
				wantFolders++
			}
			if len(lib.Folders) != wantFolders {
				t.Fatalf("%d folders, want %d", len(lib.Folders), wantFolders)
			}
			perFolder := map[string]int{}
			carts, discs := 0, 0
			for _, f := range lib.Files {
				perFolder[folderOf(f.Rel)]++
				switch {
				case f.Text != nil:
				case folderOf(f.Rel) == discPlatform.Name:
					discs++
					if f.Size < p.DiscMin || f.Size > p.DiscMax || f.Size%cdSector != 0 {
						t.Errorf("disc %s: size %d not whole sectors in [%d, %d]", f.Rel, f.Size, p.DiscMin, p.DiscMax)
					}
				default:
					carts++
					if f.Size < p.Sizes.Min || f.Size > p.Sizes.Max {
						t.Errorf("%s: size %d not in [%d, %d]", f.Rel, f.Size, p.Sizes.Min, p.Sizes.Max)
					}
				}
			}
			if carts != p.Files || discs != p.Discs {
				t.Fatalf("%d cartridge files and %d discs, want %d and %d", carts, discs, p.Files, p.Discs)
			}
			if name == "example" {
				for f, n := range perFolder {
					if n < 3 || n > 5 {
						t.Errorf("example folder %s has %d files, want 3-5", f, n)
					}
				}
			}
			t.Logf("%s: %d files in %d folders, %.2f GB", name, len(lib.Files), len(lib.Folders), float64(lib.TotalBytes())/1e9)
		})
	}
}

func TestMixedLooksLikeARealSet(t *testing.T) {
	lib, err := Plan(Presets["mixed"], 1)
	if err != nil {
		t.Fatal(err)
	}
	if gb := float64(lib.TotalBytes()) / 1e9; gb < 3.3 || gb > 4.3 {
		t.Errorf("mixed is %.2f GB, want about 3.8", gb)
	}
	var sizes []int64
	for _, f := range lib.Files {
		if folderOf(f.Rel) != discPlatform.Name {
			sizes = append(sizes, f.Size)
		}
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	// Skewed to small files but with a tail reaching the top octave.
	if med := sizes[len(sizes)/2]; med > 2<<20 {
		t.Errorf("median cartridge %d bytes, want at most 2 MiB", med)
	}
	if top := sizes[len(sizes)-1]; top < 16<<20 {
		t.Errorf("largest cartridge %d bytes, want at least 16 MiB", top)
	}
}

func TestNames(t *testing.T) {
	for _, name := range PresetNames() {
		lib, err := Plan(Presets[name], 2)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		var nonASCII, long, special int
		for _, f := range lib.Files {
			base := f.Rel[strings.LastIndexByte(f.Rel, '/')+1:]
			switch {
			case !utf8.ValidString(f.Rel):
				t.Errorf("%q is not valid UTF-8", f.Rel)
			case strings.ContainsAny(base, "/\x00"):
				t.Errorf("%q contains / or NUL", base)
			case strings.ContainsAny(base, "\"*:<>?\\|"):
				t.Errorf("%q has a character FAT/exFAT reject", base)
			case !norm.NFC.IsNormalString(base):
				t.Errorf("%q is not NFC", base)
			case utf8.RuneCountInString(base) > maxNameRunes || len(base) > maxNameBytes:
				t.Errorf("%q is too long", base)
			case strings.TrimSpace(base) != base || strings.HasSuffix(base, "."):
				t.Errorf("%q starts or ends with a space or dot", base)
			}
			for _, r := range base {
				if r < 0x20 || r == 0x7f {
					t.Errorf("%q has control character %U", base, r)
				}
			}
			key := foldKey(f.Rel)
			if other, dup := seen[key]; dup {
				t.Errorf("%q and %q collide on a case-insensitive target", other, f.Rel)
			}
			seen[key] = f.Rel
			if strings.IndexFunc(base, func(r rune) bool { return r > 0x7f }) >= 0 {
				nonASCII++
			}
			if utf8.RuneCountInString(base) > 100 {
				long++
			}
			if strings.ContainsAny(base, ",!'&+[]~#") {
				special++
			}
		}
		if name == "small" || name == "huge" {
			if nonASCII == 0 || long == 0 || special < len(lib.Files)/10 {
				t.Errorf("%s: %d non-ASCII, %d long, %d with punctuation: names too plain", name, nonASCII, long, special)
			}
		}
	}
}

func TestMtimesVary(t *testing.T) {
	lib, err := Plan(Presets["small"], 1)
	if err != nil {
		t.Fatal(err)
	}
	var odd, whole, sub int
	for _, f := range lib.Files {
		if f.ModTime.Unix()%2 == 1 {
			odd++
		}
		if f.ModTime.Nanosecond() == 0 {
			whole++
		} else {
			sub++
		}
		if f.ModTime.Before(epoch) || f.ModTime.After(mutationEpoch) {
			t.Fatalf("%s: mtime %v out of range", f.Rel, f.ModTime)
		}
	}
	n := len(lib.Files)
	if odd < n/3 || whole < n/4 || sub < n/4 {
		t.Errorf("mtimes too uniform: %d odd seconds, %d whole seconds, %d sub-second of %d", odd, whole, sub, n)
	}
}

func TestFillIsBufferSizeIndependent(t *testing.T) {
	f := File{Size: 100003, Seed: 42}
	var whole, pieces strings.Builder
	if err := writeContent(&whole, f, make([]byte, bufSize)); err != nil {
		t.Fatal(err)
	}
	if err := writeContent(&pieces, f, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if whole.Len() != int(f.Size) || whole.String() != pieces.String() {
		t.Fatal("content depends on the buffer size")
	}
}

func TestWriteRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lib, _ := Plan(Presets["example"], 1)
	if err := Write(context.Background(), dir, lib, 1); err == nil {
		t.Fatal("Write into a non-empty folder succeeded")
	}
}

func TestValidate(t *testing.T) {
	bad := []Preset{
		{Name: "nofolders", Files: 1, Sizes: SizeDist{Min: 1, Max: 2, Decay: 100}},
		{Name: "notpow2", Folders: 1, Files: 1, Sizes: SizeDist{Min: 3, Max: 8, Decay: 100}},
		{Name: "inverted", Folders: 1, Files: 1, Sizes: SizeDist{Min: 8, Max: 4, Decay: 100}},
		{Name: "tinydisc", Folders: 1, Files: 1, Sizes: SizeDist{Min: 1, Max: 2, Decay: 100}, Discs: 1, DiscMin: 10, DiscMax: 20},
	}
	for _, p := range bad {
		if _, err := Plan(p, 1); err == nil {
			t.Errorf("preset %s: Plan accepted it", p.Name)
		}
	}
}

func TestLinkFirst(t *testing.T) {
	dir := generate(t, tiny, 5)
	sub := filepath.Join(t.TempDir(), "sub")
	if err := LinkFirst(dir, sub, 25); err != nil {
		t.Fatal(err)
	}
	all, _ := listFiles(dir)
	got, err := listFiles(sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 {
		t.Fatalf("%d files, want 25", len(got))
	}
	for i, f := range got {
		if f.Rel != all[i].Rel || f.Size != all[i].Size || !f.ModTime.Equal(all[i].ModTime) {
			t.Fatalf("file %d: %+v, want %+v", i, f, all[i])
		}
	}
	if err := LinkFirst(dir, filepath.Join(t.TempDir(), "x"), 1000); err == nil {
		t.Fatal("asking for more files than exist succeeded")
	}
}

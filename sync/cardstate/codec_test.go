package cardstate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleFolder() *Folder {
	return &Folder{Dir: "Roms/GBA", Created: true, Files: map[string]*Entry{
		"Golden Sun (USA).gba": {Source: "Nintendo - Game Boy Advance/Golden Sun (USA).gba", SrcSize: 8 << 20, SrcMtime: 1700000000123456789,
			Target: Version{Size: 8 << 20, Mtime: 1700000000000000000, Hash: 0xdeadbeefcafef00d}},
		"Pokémon – Émeraude (France).gba": {Source: "Nintendo - Game Boy Advance/Pokémon – Émeraude (France).gba", SrcSize: 16 << 20, SrcMtime: -5,
			Target:  Version{Size: 16 << 20, Mtime: 1, Hash: 1},
			Pending: &PendingInstall{Source: "Nintendo - Game Boy Advance/Pokémon – Émeraude (France).gba", SrcSize: 3, SrcMtime: 4, Size: 3, Hash: 0xffffffffffffffff}},
		"never.gba":         {Pending: &PendingInstall{Source: "x/never.gba", Size: 1, Hash: 2}},
		"Game (Disc 1).chd": {Source: "Sony - PlayStation/Game (Disc 1).chd", SrcSize: 7, Target: Version{Size: 7, Hash: 3}, Moved: ".Game/Game (Disc 1).chd"},
		"empty.gba":         {Source: "x/empty.gba"},
	}}
}

func TestBinaryManifestRoundTrip(t *testing.T) {
	for _, f := range []*Folder{sampleFolder(), {Dir: ".", Files: map[string]*Entry{}}, {Dir: "a", Created: true, Files: map[string]*Entry{}}} {
		data := encodeBinary(f)
		got, err := decodeBinary(data)
		require.NoError(t, err)
		assert.Equal(t, f.Dir, got.Dir)
		assert.Equal(t, f.Created, got.Created)
		assert.Equal(t, f.Files, got.Files)
		assert.Equal(t, data, encodeBinary(got), "encoding is deterministic")
	}
}

// TestBinaryManifestDamage: a manifest cut at any byte, or with any byte
// changed, is damaged (to heal), never read as another manifest.
func TestBinaryManifestDamage(t *testing.T) {
	data := encodeBinary(sampleFolder())
	for n := range len(data) {
		_, err := decodeBinary(data[:n])
		require.ErrorIs(t, err, errDamaged, "cut at %d", n)
	}
	for i := range data {
		b := append([]byte(nil), data...)
		b[i] ^= 0x41
		_, err := decodeBinary(b)
		if i == len(binMagic) { // the version byte: a newer format is no damage
			require.Error(t, err)
			continue
		}
		require.ErrorIs(t, err, errDamaged, "byte %d changed", i)
	}
	zeros := make([]byte, len(data))
	_, err := decodeManifest("p", manifestName("Roms/GBA"), zeros)
	require.ErrorIs(t, err, errDamaged, "zeros (fusefat's moment)")
}

// TestNewerFormatIsNotDamage: a manifest a newer romsyncd wrote stops the
// pass with a clear error; it is never "healed" away.
func TestNewerFormatIsNotDamage(t *testing.T) {
	data := encodeBinary(sampleFolder())
	data[len(binMagic)] = binVersion + 1
	_, err := decodeBinary(data)
	require.Error(t, err)
	assert.False(t, errors.Is(err, errDamaged))
	assert.Contains(t, err.Error(), "newer romsyncd")
}

// TestVersion1ManifestsAreConverted: a card written by a romsyncd that
// kept JSON manifests is read as it is, and its manifests are rewritten in
// the binary format on the first pass that may write; a dry run writes
// nothing.
func TestVersion1ManifestsAreConverted(t *testing.T) {
	root := filepath.Join(t.TempDir(), "card")
	st, err := Open(root, OpenOptions{Profile: "p", MayCreate: true})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	meta := filepath.Join(root, MetaDirName)
	folders := filepath.Join(meta, foldersDir)
	require.NoError(t, os.MkdirAll(folders, 0o755))
	want := sampleFolder()
	data, err := json.Marshal(folderFile{Version: manifestVersion, Folder: want})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(folders, legacyName(want.Dir)), data, 0o644))
	// A conversion cut short: the new file is in place, the old one not
	// yet removed. The new one wins.
	other := &Folder{Dir: "b", Files: map[string]*Entry{"new.gb": {Source: "b/new.gb"}}}
	require.NoError(t, WriteManifest(meta, other, true))
	old, err := json.Marshal(folderFile{Version: manifestVersion, Folder: &Folder{Dir: "b", Files: map[string]*Entry{"old.gb": {Source: "b/old.gb"}}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(folders, legacyName("b")), old, 0o644))

	dry, err := Open(root, OpenOptions{Profile: "p", DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, want.Files, dry.Entries(want.Dir))
	assert.Contains(t, dry.Entries("b"), "new.gb")
	assert.NotContains(t, dry.Entries("b"), "old.gb")
	assert.ElementsMatch(t, []string{legacyName("b"), legacyName(want.Dir), manifestName("b")}, names(t, folders), "a dry run writes nothing")

	st, err = Open(root, OpenOptions{Profile: "p"})
	require.NoError(t, err)
	defer st.Close()
	assert.Equal(t, want.Files, st.Entries(want.Dir))
	assert.ElementsMatch(t, []string{manifestName("b"), manifestName(want.Dir)}, names(t, folders))
	mans, err := LoadManifests(meta)
	require.NoError(t, err)
	assert.Equal(t, want.Files, mans[want.Dir].Files)
	assert.True(t, mans[want.Dir].Created)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func FuzzDecodeBinary(f *testing.F) {
	f.Add(encodeBinary(sampleFolder()))
	f.Add(encodeBinary(&Folder{Dir: ".", Files: map[string]*Entry{}}))
	f.Add([]byte("RSMF\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeBinary(data)
		if err != nil {
			return
		}
		again, err := decodeBinary(encodeBinary(got))
		if err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
		if fmt.Sprint(again.Files) == "" || len(again.Files) != len(got.Files) || again.Dir != got.Dir {
			t.Fatalf("round trip changed the manifest")
		}
	})
}

// BenchmarkDecodeManifest: one folder of 2,000 entries, both formats.
func BenchmarkDecodeManifest(b *testing.B) {
	f := &Folder{Dir: "Nintendo - Game Boy", Files: map[string]*Entry{}}
	for i := range 2000 {
		n := fmt.Sprintf("Some Game Title %04d (USA, Europe) (Rev %d).gb", i, i%3)
		f.Files[n] = &Entry{Source: "Nintendo - Game Boy/" + n, SrcSize: int64(i) << 10, SrcMtime: 1700000000123456789 + int64(i),
			Target: Version{Size: int64(i) << 10, Mtime: 1700000000123456789 + int64(i), Hash: Hash(i) * 0x9e3779b97f4a7c15}}
	}
	js, _ := json.Marshal(folderFile{Version: manifestVersion, Folder: f})
	bin := encodeBinary(f)
	name := manifestName(f.Dir)
	for _, c := range []struct {
		name string
		data []byte
	}{{"json", js}, {"binary", bin}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportMetric(float64(len(c.data)), "bytes")
			for b.Loop() {
				if _, err := decodeManifest("p", strings.TrimSuffix(name, manifestSuffix)+manifestSuffix, c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestUnknownExtrasAreSkipped: a field a later version adds to an entry
// (an extra with a tag this version does not know) is skipped, not damage.
func TestUnknownExtrasAreSkipped(t *testing.T) {
	b := []byte(binMagic)
	b = append(b, binVersion)
	b = binary.AppendUvarint(b, 0)
	b = appendString(b, "gb")
	b = binary.AppendUvarint(b, 1)
	b = appendString(b, "a.gb")
	b = appendString(b, "Nintendo - Game Boy/a.gb")
	for _, v := range []int64{1, 2, 1, 2} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.LittleEndian.AppendUint64(b, 7)
	b = append(b, 0)
	b = binary.AppendUvarint(b, 2)
	b = binary.AppendUvarint(b, 99)
	b = appendString(b, "from the future")
	b = binary.AppendUvarint(b, extraMoved)
	b = appendString(b, ".a/a.gb")
	b = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
	f, err := decodeBinary(b)
	require.NoError(t, err)
	assert.Equal(t, &Entry{Source: "Nintendo - Game Boy/a.gb", SrcSize: 1, SrcMtime: 2, Target: Version{Size: 1, Mtime: 2, Hash: 7}, Moved: ".a/a.gb"}, f.Files["a.gb"])
}

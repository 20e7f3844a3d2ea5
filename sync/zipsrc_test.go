package sync

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/platform"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

type zipMember struct {
	name string
	data []byte
}

// zipBytes builds a zip of members; stored (no compression) unless deflate.
func zipBytes(t *testing.T, deflate bool, members ...zipMember) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Store}
		if deflate {
			h.Method = zip.Deflate
		}
		f, err := w.CreateHeader(h)
		require.NoError(t, err)
		_, err = f.Write(m.data)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestOneMember(t *testing.T) {
	rom := []byte("rom")
	tests := []struct {
		name    string
		members []zipMember
		want    string // "" for not unzipped
	}{
		{"one file", []zipMember{{"Tetris (World).gb", rom}}, "Tetris (World).gb"},
		{"one file in a folder", []zipMember{{"roms/", nil}, {"roms/Tetris.gb", rom}}, "roms/Tetris.gb"},
		{"windows separators", []zipMember{{`roms\Tetris.gb`, rom}}, "roms/Tetris.gb"},
		{"several files", []zipMember{{"a.gb", rom}, {"b.gb", rom}}, ""},
		{"folders only", []zipMember{{"a/", nil}, {"a/b/", nil}}, ""},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := zipBytes(t, false, tc.members...)
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			m, ok := oneMember(zr.File)
			got := ""
			if ok {
				got = memberName(m)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// pocketEnv is a library mirrored with the pocket layout and its unzip
// habit (as profiles.Options sets them) onto a card (a new folder on mnt:
// the first pass creates it).
func pocketEnv(t *testing.T, mnt string) *realEnv {
	t.Helper()
	e := newRealEnv(t, filepath.Join(mnt, "card"))
	l, err := platform.NewLayout(platform.Options{Layout: "pocket"})
	require.NoError(t, err)
	e.opts.MapPlatform = layoutMapper(t, "pocket")
	e.opts.Unzip = l.Unzip
	e.opts.Probe = daemonProbe
	return e
}

// libZip writes a zip into the library with mtime mt.
func libZip(t *testing.T, e *realEnv, rel string, data []byte, mt time.Time) {
	t.Helper()
	p := filepath.Join(e.src, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, data, 0o644))
	require.NoError(t, os.Chtimes(p, mt, mt))
}

func TestPocketUnzip(t *testing.T) {
	t.Run("ext4", func(t *testing.T) { testPocketUnzip(t, t.TempDir()) })
	t.Run("exFAT", func(t *testing.T) { testPocketUnzip(t, testfs.ExFAT(t, "16M")) })
}

func testPocketUnzip(t *testing.T, mnt string) {
	e := pocketEnv(t, mnt)
	card := e.dst
	at := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
	tetris := content("tetris", 64<<10)
	libZip(t, e, datGB+"/Tetris (World).zip", zipBytes(t, true, zipMember{"Tetris (World).gb", tetris}), at)
	pack := zipBytes(t, false, zipMember{"a.gb", []byte("a")}, zipMember{"b.gb", []byte("b")})
	libZip(t, e, datGB+"/Pack.zip", pack, at)
	mslug := zipBytes(t, false, zipMember{"201-p1.p1", content("mslug", 1000)})
	libZip(t, e, "SNK - Neo Geo/mslug.zip", mslug, at)
	rom := filepath.Join(card, "Assets", "gb", "common", "Tetris (World).gb")

	r := mustRun(t, e.opts)
	require.Empty(t, r.Errors)
	assert.Equal(t, 3, r.Copied, "%+v", r)
	tree := readTree(t, card)
	assert.Equal(t, string(tetris), tree["Assets/gb/common/Tetris (World).gb"], "the one-ROM zip is installed as its ROM")
	assert.NotContains(t, tree, "Assets/gb/common/Tetris (World).zip")
	assert.Equal(t, string(pack), tree["Assets/gb/common/Pack.zip"], "a zip of several files is copied as it is")
	// The Pocket has no folder for MAME-style Neo Geo sets (its ng core
	// reads ROMs split per chip): the romset is kept under its library
	// name, and never unzipped.
	assert.Equal(t, string(mslug), tree["SNK - Neo Geo/mslug.zip"], "an arcade romset is never unzipped")
	mans, err := cardstate.LoadManifests(filepath.Join(card, cardstate.MetaDirName))
	require.NoError(t, err)
	ent := mans["Assets/gb/common"].Files["Tetris (World).gb"]
	require.NotNil(t, ent)
	st, err := os.Stat(filepath.Join(e.src, datGB, "Tetris (World).zip"))
	require.NoError(t, err)
	assert.Equal(t, datGB+"/Tetris (World).zip", ent.Source, "the library file is the zip")
	assert.Equal(t, st.Size(), ent.SrcSize)
	assert.Equal(t, int64(len(tetris)), ent.Target.Size)
	checkManifests(t, card, true)

	r = mustRun(t, e.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Zero(t, r.Copied, "a second pass is a no-op")
	assert.Zero(t, r.HashedBytes, "nothing is read again")

	tetris2 := content("tetris rev 1", 70<<10)
	libZip(t, e, datGB+"/Tetris (World).zip", zipBytes(t, true, zipMember{"Tetris (World).gb", tetris2}), at.Add(time.Hour))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Replaced, "%+v", r)
	got, err := os.ReadFile(rom)
	require.NoError(t, err)
	assert.Equal(t, tetris2, got, "replacing the zip re-installs the ROM")
	checkManifests(t, card, true)

	require.NoError(t, os.Remove(filepath.Join(e.src, datGB, "Tetris (World).zip")))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Deleted, "%+v", r)
	assert.NoFileExists(t, rom, "deleting the zip deletes its ROM")
	assert.Empty(t, tempFiles(t, card))
	checkManifests(t, card, true)
}

// TestPocketUnzipDamaged: a zip whose member fails its CRC32, and one whose
// central directory cannot be read, are reported with the reason and
// installed under no name; the other ROMs are.
func TestPocketUnzipDamaged(t *testing.T) {
	e := pocketEnv(t, t.TempDir())
	card := e.dst
	at := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
	rom := content("bad", 10<<10)
	data := zipBytes(t, false, zipMember{"Bad (World).gb", rom})
	i := bytes.Index(data, rom)
	require.Positive(t, i)
	data[i+5000] ^= 0xff // stored: the member's own bytes
	libZip(t, e, datGB+"/Bad (World).zip", data, at)
	libZip(t, e, datGB+"/Garbage.zip", content("not a zip", 3000), at)
	// A central directory that says CRC32 0, which archive/zip does not
	// check: romsyncd's own CRC32 of the bytes written does.
	var zero bytes.Buffer
	zw := zip.NewWriter(&zero)
	zrom := []byte("zero crc rom")
	fw, err := zw.CreateRaw(&zip.FileHeader{Name: "Zero.gb", Method: zip.Store, CRC32: 0,
		CompressedSize64: uint64(len(zrom)), UncompressedSize64: uint64(len(zrom))})
	require.NoError(t, err)
	_, err = fw.Write(zrom)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	libZip(t, e, datGB+"/Zero.zip", zero.Bytes(), at)
	libZip(t, e, datGB+"/Good.zip", zipBytes(t, false, zipMember{"Good.gb", []byte("good")}), at)

	r, err := runPass(t.Context(), t, e.opts)
	require.NoError(t, err)
	why := reasons(r.Errors)
	assert.Contains(t, why[datGB+"/Bad (World).zip"], "CRC32", "%+v", r.Errors)
	assert.Contains(t, why[datGB+"/Bad (World).zip"], "replace it in the library")
	assert.Contains(t, why[datGB+"/Garbage.zip"], "not a readable zip", "%+v", r.Errors)
	assert.Contains(t, why[datGB+"/Zero.zip"], "CRC32 00000000", "%+v", r.Errors)
	tree := readTree(t, card)
	assert.Equal(t, "good", tree["Assets/gb/common/Good.gb"])
	for p := range tree {
		assert.NotContains(t, p, "Bad", "nothing of the damaged zip under a final name")
		assert.NotContains(t, p, "Garbage")
		assert.NotContains(t, p, "Zero")
	}
	assert.Empty(t, tempFiles(t, card))
	checkManifests(t, card, true)
}

// TestPocketUnzipTooLarge: a member that inflates beyond what the card's
// filesystem holds (max_file_size) or beyond its free space is skipped
// before a byte is written, from the size the zip declares.
func TestPocketUnzipTooLarge(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
	zeros := make([]byte, 16<<20) // deflates to a few KiB
	t.Run("max_file_size", func(t *testing.T) {
		e := pocketEnv(t, t.TempDir())
		e.opts.Probe = func(ctx context.Context, root, scratch string, o *Options) error {
			if err := daemonProbe(ctx, root, scratch, o); err != nil {
				return err
			}
			o.MaxFileSize = 1 << 20
			return nil
		}
		libZip(t, e, datGB+"/Bomb.zip", zipBytes(t, true, zipMember{"Bomb.gb", zeros}), at)
		r := mustRun(t, e.opts)
		require.Len(t, r.Skipped, 1, "%+v", r)
		assert.Equal(t, outcome.TooLarge, r.Skipped[0].Skip)
		assert.NoFileExists(t, filepath.Join(e.dst, "Assets", "gb", "common", "Bomb.gb"))
	})
	t.Run("no room", func(t *testing.T) {
		e := pocketEnv(t, testfs.Tmpfs(t, "8m"))
		libZip(t, e, datGB+"/Bomb.zip", zipBytes(t, true, zipMember{"Bomb.gb", zeros}), at)
		r := mustRun(t, e.opts)
		require.Len(t, r.Skipped, 1, "%+v", r)
		assert.Equal(t, outcome.NoRoom, r.Skipped[0].Skip)
		assert.Contains(t, r.Skipped[0].Reason, "needs 16.0 MiB")
		assert.Empty(t, tempFiles(t, e.dst))
	})
}

// TestPocketUnzipAdoptAndMove: a ROM the user already extracted onto the
// card is adopted by `romsyncd init` (its bytes are the zip's member), and
// a zip moved in the library moves its ROM on the card instead of
// extracting it again.
func TestPocketUnzipAdoptAndMove(t *testing.T) {
	e := pocketEnv(t, t.TempDir())
	at := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
	tetris := content("tetris", 64<<10)
	libZip(t, e, datGB+"/Tetris (World).zip", zipBytes(t, true, zipMember{"Tetris (World).gb", tetris}), at)
	rom := filepath.Join(e.dst, "Assets", "gb", "common", "Tetris (World).gb")
	require.NoError(t, os.MkdirAll(filepath.Dir(rom), 0o755))
	require.NoError(t, os.WriteFile(rom, tetris, 0o644))

	r, err := Init(t.Context(), e.opts)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Adopted, "%+v", r)
	r = mustRun(t, e.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Zero(t, r.Copied)

	require.NoError(t, os.MkdirAll(filepath.Join(e.src, datGB, "Puzzle"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(e.src, datGB, "Tetris (World).zip"), filepath.Join(e.src, datGB, "Puzzle", "Tetris (World).zip")))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Renamed, "%+v", r)
	assert.Zero(t, r.Copied)
	got, err := os.ReadFile(filepath.Join(e.dst, "Assets", "gb", "common", "Puzzle", "Tetris (World).gb"))
	require.NoError(t, err)
	assert.Equal(t, tetris, got)
	assert.NoFileExists(t, rom)
	checkManifests(t, e.dst, true)
}

// TestPocketUnzipNameClash: a zip's ROM and a plain ROM of the same name
// are a conflict like any two library files landing on one name: neither
// is written.
func TestPocketUnzipNameClash(t *testing.T) {
	e := pocketEnv(t, t.TempDir())
	at := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
	libZip(t, e, datGB+"/Tetris.zip", zipBytes(t, false, zipMember{"Tetris.gb", []byte("zipped")}), at)
	libZip(t, e, datGB+"/Tetris.gb", []byte("plain"), at)
	r, err := runPass(t.Context(), t, e.opts)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{datGB + "/Tetris.zip", datGB + "/Tetris.gb"}, paths(r.Conflicts), "%+v", r)
	assert.NoFileExists(t, filepath.Join(e.dst, "Assets", "gb", "common", "Tetris.gb"))
}

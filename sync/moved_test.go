package sync

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// onionDisc1 is the "Type 1" name m3u_gen.sh looks for: "… (Disc 1).<ext>"
// with one of its disc extensions (cue|gdi|chd|pbp|iso|dsk).
var onionDisc1 = regexp.MustCompile(`(?i)^(.*) \(Dis[kc] 1\)\.(cue|gdi|chd|pbp|iso|dsk)$`)

// onionM3UGen does to a ROM folder what Onion's playlist generator does in
// its "multiple directories" mode (OnionUI/Onion
// static/build/.tmp_update/script/m3u_gen.sh -md, commit 07505ea5): for each
// "Game (Disc 1).ext" it creates the hidden folder ".Game", moves every
// "Game (Disc ?).*" into it with `mv -n` (a rename: size and mtime kept) and
// writes "Game.m3u" listing ".Game/<disc>" lines, sorted. It returns the
// playlists it wrote, by path, with their content.
func onionM3UGen(t *testing.T, folder string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(folder)
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range ents {
		m := onionDisc1.FindStringSubmatch(d.Name())
		if !d.Type().IsRegular() || m == nil {
			continue
		}
		game := strings.TrimRight(m[1], " ")
		hidden := "." + game
		require.NoError(t, os.MkdirAll(filepath.Join(folder, hidden), 0o755))
		discs := regexp.MustCompile(`(?i)^` + regexp.QuoteMeta(m[1]) + ` \(Dis[kc] .\)\.`)
		all, err := os.ReadDir(folder)
		require.NoError(t, err)
		var lines []string
		for _, f := range all {
			if !f.Type().IsRegular() || !discs.MatchString(f.Name()) || strings.HasSuffix(strings.ToLower(f.Name()), ".m3u") {
				continue
			}
			dst := filepath.Join(folder, hidden, f.Name())
			if _, err := os.Lstat(dst); err == nil {
				continue // mv -n
			}
			require.NoError(t, os.Rename(filepath.Join(folder, f.Name()), dst))
			lines = append(lines, hidden+"/"+f.Name())
		}
		sort.Strings(lines)
		m3u := filepath.Join(folder, game+".m3u")
		data := strings.Join(lines, "\n") + "\n"
		require.NoError(t, os.WriteFile(m3u, []byte(data), 0o644))
		out[m3u] = data
	}
	return out
}

// TestDeviceMovedDiscs: Onion's playlist generator moves the discs romsyncd
// installed into a hidden ".Game" folder next to its own .m3u. The next pass
// copies nothing and reports nothing (before, it copied every disc again);
// a disc the library changes is replaced in the hidden folder, one it drops
// is deleted there, and the device's folder and playlist stay. A file of
// the same name and size but other content in a dot-folder is not taken for
// romsyncd's; a moved disc the user removes is copied again to its place.
func TestDeviceMovedDiscs(t *testing.T) {
	for _, kind := range []string{"ext4", "exFAT"} {
		t.Run(kind, func(t *testing.T) {
			var target string
			if kind == "ext4" {
				target = filepath.Join(t.TempDir(), "Roms")
			} else {
				target = filepath.Join(testfs.ExFAT(t, "64M"), "Roms")
			}
			testDeviceMovedDiscs(t, target, kind != "ext4")
		})
	}
}

func testDeviceMovedDiscs(t *testing.T, target string, probe bool) {
	e := newRealEnv(t, target)
	if probe {
		e.opts.Probe = daemonProbe
	}
	const (
		disc1 = "Lunar (USA) (Disc 1).chd"
		disc2 = "Lunar (USA) (Disc 2).chd"
		other = "Other (USA).chd"
	)
	e.lib(t, "PS/"+disc1, content("d1", 300<<10))
	e.lib(t, "PS/"+disc2, content("d2", 200<<10))
	e.lib(t, "PS/"+other, content("o", 100<<10))
	r := mustRun(t, e.opts)
	require.Equal(t, 3, r.Copied, "%+v", r)

	ps := filepath.Join(e.dst, "PS")
	m3us := onionM3UGen(t, ps)
	m3u := filepath.Join(ps, "Lunar (USA).m3u")
	require.Equal(t, ".Lunar (USA)/"+disc1+"\n.Lunar (USA)/"+disc2+"\n", m3us[m3u])
	hidden := filepath.Join(ps, ".Lunar (USA)")

	// The next pass keeps the discs where the device put them.
	r = mustRun(t, e.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Zero(t, r.Copied, "%+v", r)
	assert.Empty(t, r.Conflicts)
	assert.Equal(t, 3, r.Unchanged)
	assert.Equal(t, 2, r.Moved)
	assert.Equal(t, map[string]bool{"Lunar (USA).m3u": true, ".Lunar (USA)": true, other: true}, dirNames(mustReadDir(t, ps)))
	assert.Equal(t, map[string]bool{disc1: true, disc2: true}, dirNames(mustReadDir(t, hidden)))
	checkManifests(t, e.dst, true)
	mans, err := cardstate.LoadManifests(filepath.Join(e.dst, cardstate.MetaDirName))
	require.NoError(t, err)
	assert.Equal(t, ".Lunar (USA)/"+disc1, mans["PS"].Files[disc1].Moved)
	assert.NotContains(t, mans, "PS/.Lunar (USA)", "the device's folder is not romsyncd's")

	// From then on it costs a stat: nothing is read again.
	r = mustRun(t, e.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Zero(t, r.Copied)
	assert.Zero(t, r.HashedBytes)

	// A dry run plans nothing either.
	dry := e.opts
	dry.DryRun = true
	assert.Empty(t, mustRun(t, dry).Plan)

	// The library changes disc 2: replaced where the playlist points.
	e.lib(t, "PS/"+disc2, content("d2 v2", 210<<10))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Copied, "%+v", r)
	assert.Equal(t, 1, r.Replaced)
	got, err := os.ReadFile(filepath.Join(hidden, disc2))
	require.NoError(t, err)
	assert.Equal(t, content("d2 v2", 210<<10), got)
	assert.NoFileExists(t, filepath.Join(ps, disc2))
	assert.Empty(t, tempFiles(t, e.dst))
	checkManifests(t, e.dst, true)
	assert.Zero(t, mustRun(t, e.opts).Copied)

	// The library drops disc 1 (mirror): deleted in the hidden folder; the
	// folder and the device's playlist stay as the device wrote them.
	require.NoError(t, os.Remove(filepath.Join(e.src, "PS", disc1)))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Deleted, "%+v", r)
	assert.Equal(t, map[string]bool{disc2: true}, dirNames(mustReadDir(t, hidden)))
	data, err := os.ReadFile(m3u)
	require.NoError(t, err)
	assert.Equal(t, m3us[m3u], string(data))
	checkManifests(t, e.dst, true)

	// A stranger of the same name and size, other content, in a dot-folder:
	// not romsyncd's. The removed original is copied again.
	decoy := filepath.Join(ps, ".Other", other)
	require.NoError(t, os.MkdirAll(filepath.Dir(decoy), 0o755))
	require.NoError(t, os.WriteFile(decoy, content("not it", 100<<10), 0o644))
	require.NoError(t, os.Remove(filepath.Join(ps, other)))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Copied, "%+v", r)
	assert.True(t, r.InSync, "%+v", r)
	got, err = os.ReadFile(filepath.Join(ps, other))
	require.NoError(t, err)
	assert.Equal(t, content("o", 100<<10), got)
	got, err = os.ReadFile(decoy)
	require.NoError(t, err)
	assert.Equal(t, content("not it", 100<<10), got, "the stranger is untouched")

	// The user removes the moved disc: copied again to its own place.
	require.NoError(t, os.Remove(filepath.Join(hidden, disc2)))
	r = mustRun(t, e.opts)
	assert.Equal(t, 1, r.Copied, "%+v", r)
	assert.FileExists(t, filepath.Join(ps, disc2))
	checkManifests(t, e.dst, true)
	mans, err = cardstate.LoadManifests(filepath.Join(e.dst, cardstate.MetaDirName))
	require.NoError(t, err)
	assert.Empty(t, mans["PS"].Files[disc2].Moved)
	assert.Zero(t, mustRun(t, e.opts).Copied)
}

// TestMovedNotTakenFromOwnFolder: a sub-folder romsyncd fills itself (the
// library has it) is not searched: a file there is that folder's, even
// with the name and content of a missing file of the parent.
func TestMovedNotTakenFromOwnFolder(t *testing.T) {
	e := newRealEnv(t, filepath.Join(t.TempDir(), "Roms"))
	same := content("same", 50<<10)
	e.lib(t, "PS/Game.chd", same)
	e.lib(t, "PS/Sub/Game.chd", same)
	mustRun(t, e.opts)

	require.NoError(t, os.Remove(filepath.Join(e.dst, "PS", "Game.chd")))
	r := mustRun(t, e.opts)
	assert.Equal(t, 1, r.Copied, "%+v", r)
	assert.True(t, r.InSync, "%+v", r)
	e.converged(t)
}

// TestMovedKeptRenamedBack: the user moves a moved disc back under its own
// name: the file in the folder counts again.
func TestMovedKeptRenamedBack(t *testing.T) {
	e := newRealEnv(t, filepath.Join(t.TempDir(), "Roms"))
	e.lib(t, "PS/A (Disc 1).chd", content("a1", 10<<10))
	e.lib(t, "PS/A (Disc 2).chd", content("a2", 10<<10))
	mustRun(t, e.opts)
	ps := filepath.Join(e.dst, "PS")
	onionM3UGen(t, ps)
	assert.Zero(t, mustRun(t, e.opts).Copied)

	require.NoError(t, os.Rename(filepath.Join(ps, ".A", "A (Disc 1).chd"), filepath.Join(ps, "A (Disc 1).chd")))
	r := mustRun(t, e.opts)
	assert.Zero(t, r.Copied, "%+v", r)
	assert.True(t, r.InSync, "%+v", r)
	mans, err := cardstate.LoadManifests(filepath.Join(e.dst, cardstate.MetaDirName))
	require.NoError(t, err)
	assert.Empty(t, mans["PS"].Files["A (Disc 1).chd"].Moved)
	assert.Equal(t, ".A/A (Disc 2).chd", mans["PS"].Files["A (Disc 2).chd"].Moved)
	checkManifests(t, e.dst, true)
}

// TestMovedPendingSettledByContent: a pass killed while it replaced a moved
// disc leaves a pending install in the manifest; the next pass decides by
// the content where the device put the disc: the new version is recorded
// as installed there (nothing copied again), an old one is replaced.
func TestMovedPendingSettledByContent(t *testing.T) {
	for _, renamed := range []bool{true, false} {
		t.Run(map[bool]string{true: "renamed", false: "not-renamed"}[renamed], func(t *testing.T) {
			e := newRealEnv(t, filepath.Join(t.TempDir(), "Roms"))
			e.lib(t, "PS/B (Disc 1).chd", content("b1", 10<<10))
			e.lib(t, "PS/B (Disc 2).chd", content("b2", 10<<10))
			mustRun(t, e.opts)
			ps := filepath.Join(e.dst, "PS")
			onionM3UGen(t, ps)
			assert.Zero(t, mustRun(t, e.opts).Copied)

			// The library changes disc 1; a pass records the pending
			// install and (renamed) puts it in place, then dies.
			v2 := content("b1 v2", 12<<10)
			e.lib(t, "PS/B (Disc 1).chd", v2)
			st, err := os.Stat(filepath.Join(e.src, "PS", "B (Disc 1).chd"))
			require.NoError(t, err)
			meta := filepath.Join(e.dst, cardstate.MetaDirName)
			mans, err := cardstate.LoadManifests(meta)
			require.NoError(t, err)
			f := mans["PS"]
			old := *f.Files["B (Disc 1).chd"]
			pend := old
			pend.Pending = &cardstate.PendingInstall{Source: "PS/B (Disc 1).chd", SrcSize: st.Size(), SrcMtime: st.ModTime().UnixNano(),
				Size: int64(len(v2)), Hash: cardstate.Hash(xxhash.Sum64(v2))}
			f.Files["B (Disc 1).chd"] = &pend
			require.NoError(t, cardstate.WriteManifest(meta, f, true))
			if renamed {
				require.NoError(t, os.WriteFile(filepath.Join(ps, ".B", "B (Disc 1).chd"), v2, 0o644))
			}

			r := mustRun(t, e.opts)
			assert.True(t, r.InSync, "%+v", r)
			if renamed {
				assert.Zero(t, r.Copied, "%+v", r)
			} else {
				assert.Equal(t, 1, r.Replaced, "%+v", r)
			}
			got, err := os.ReadFile(filepath.Join(ps, ".B", "B (Disc 1).chd"))
			require.NoError(t, err)
			assert.Equal(t, v2, got)
			assert.NoFileExists(t, filepath.Join(ps, "B (Disc 1).chd"))
			checkManifests(t, e.dst, true)
			assert.Zero(t, mustRun(t, e.opts).Copied)
		})
	}
}

// TestMovedChangedOnCard: a moved file changed on the card follows the rules
// of any installed file: repaired where it is while the library still has
// the version installed; kept and forgotten once the library drops it.
func TestMovedChangedOnCard(t *testing.T) {
	e := newRealEnv(t, filepath.Join(t.TempDir(), "Roms"))
	e.lib(t, "PS/C (Disc 1).chd", content("c1", 10<<10))
	e.lib(t, "PS/C (Disc 2).chd", content("c2", 10<<10))
	mustRun(t, e.opts)
	ps := filepath.Join(e.dst, "PS")
	onionM3UGen(t, ps)
	assert.Zero(t, mustRun(t, e.opts).Copied)

	moved := filepath.Join(ps, ".C", "C (Disc 1).chd")
	require.NoError(t, os.WriteFile(moved, []byte("scribbled"), 0o644))
	r := mustRun(t, e.opts)
	assert.Equal(t, 1, r.Replaced, "%+v", r)
	got, err := os.ReadFile(moved)
	require.NoError(t, err)
	assert.True(t, string(got) == string(content("c1", 10<<10)), "repaired in the hidden folder")
	assert.NoFileExists(t, filepath.Join(ps, "C (Disc 1).chd"))

	require.NoError(t, os.WriteFile(moved, []byte("scribbled again"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(e.src, "PS", "C (Disc 1).chd")))
	r = mustRun(t, e.opts)
	assert.Zero(t, r.Deleted, "%+v", r)
	got, err = os.ReadFile(moved)
	require.NoError(t, err)
	assert.Equal(t, "scribbled again", string(got))
	mans, err := cardstate.LoadManifests(filepath.Join(e.dst, cardstate.MetaDirName))
	require.NoError(t, err)
	assert.NotContains(t, mans["PS"].Files, "C (Disc 1).chd", "forgotten")
}

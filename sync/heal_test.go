package sync

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// TestDamagedManifestHeals: a manifest a power cut or a filesystem error
// left empty, truncated or full of NULs never stops the card. With the
// host's copy, ownership is restored whole: a file the library changed
// since is replaced, a file the library dropped is deleted. Without a copy
// (another host), files identical to the library's are adopted again.
func TestDamagedManifestHeals(t *testing.T) {
	damages := map[string]func(data []byte) []byte{
		"empty":     func([]byte) []byte { return nil },
		"truncated": func(d []byte) []byte { return d[:len(d)/2] },
		"NULs":      func(d []byte) []byte { return bytes.Repeat([]byte{0}, len(d)) },
		"not ours":  func([]byte) []byte { return []byte(`{"version":1,"dir":"x","files":{}}`) },
	}
	for name, damage := range damages {
		for _, copyOnHost := range []bool{true, false} {
			t.Run(name+map[bool]string{true: "/host copy", false: "/no copy"}[copyOnHost], func(t *testing.T) {
				e := newEnv(t)
				writeTree(t, e.src, map[string]string{"gb/a.gb": "a-1", "gb/b.gb": "b", "gb/c.gb": "c"})
				e.mustPass(t)
				p := cardstate.ManifestPath(filepath.Join(e.dst, cardstate.MetaDirName), "gb")
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(p, damage(data), 0o644))
				if !copyOnHost {
					require.NoError(t, os.RemoveAll(filepath.Join(e.state, "manifests")))
				}
				writeTree(t, e.src, map[string]string{"gb/c.gb": "c-2"})
				require.NoError(t, os.Remove(filepath.Join(e.src, "gb/b.gb")))

				r := e.mustPass(t)
				assert.Empty(t, r.Errors)
				tree := readTree(t, e.dst)
				assert.Equal(t, "a-1", tree["gb/a.gb"])
				if copyOnHost {
					assert.True(t, r.InSync, "%+v", r)
					assert.Equal(t, "c-2", tree["gb/c.gb"], "owned file the library changed is replaced")
					assert.NotContains(t, tree, "gb/b.gb", "owned file the library dropped is deleted")
				} else {
					// No record anywhere of b and c: identical a is adopted, c
					// (changed in the library) and b stay the user's.
					assert.Len(t, r.Conflicts, 1, "%+v", r.Conflicts)
					assert.Equal(t, "c", tree["gb/c.gb"], "a file no copy records is never overwritten")
					assert.Equal(t, "b", tree["gb/b.gb"], "a file no copy records is never deleted")
					require.NoError(t, os.Remove(filepath.Join(e.src, "gb/a.gb")))
					r = e.mustPass(t)
					assert.Equal(t, 1, r.Deleted, "the adopted file is romsyncd's again")
				}
				checkManifests(t, e.dst, true)
			})
		}
	}
}

// TestInitKilledAfterItsMarkerIsFinishedByTheNextPass: `romsyncd init`
// records that it adopts before it writes the marker; killed after the
// marker, before it recorded the files, the next pass finishes the
// adoption instead of calling the card's files foreign forever.
func TestInitKilledAfterItsMarkerIsFinishedByTheNextPass(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"})
	writeTree(t, e.dst, map[string]string{"gb/a.gb": "a", "gb/b.gb": "b"})
	meta := filepath.Join(e.dst, cardstate.MetaDirName)
	require.NoError(t, os.MkdirAll(meta, 0o755))
	// What a killed init leaves: the adoption noted, the marker written,
	// no manifest yet.
	require.NoError(t, os.WriteFile(filepath.Join(meta, "adopting"), []byte(`{"profile":"test"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(meta, cardstate.MarkerName), []byte(`{"profile":"test","id":"0123456789abcdef","created":"2026-01-01T00:00:00Z"}`), 0o644))

	r := e.mustPass(t)
	assert.True(t, r.InSync, "%+v", r)
	assert.Zero(t, r.Copied)
	assert.NoFileExists(t, filepath.Join(meta, "adopting"))
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/a.gb")))
	r = e.mustPass(t)
	assert.Equal(t, 1, r.Deleted, "adopted files are romsyncd's")
}

// TestReleasedSessionHoldsNothingAndRereadsWhatOthersWrote: a released
// session keeps no descriptor on the card; its next pass takes the lock
// again and reads the manifests another romsyncd changed meanwhile.
func TestReleasedSessionHoldsNothingAndRereadsWhatOthersWrote(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a", "nes/n.nes": "n"})
	s1, err := Open(context.Background(), e.opts)
	require.NoError(t, err)
	defer s1.Close()
	_, err = s1.Pass(context.Background(), Scope{All: true})
	require.NoError(t, err)
	require.NoError(t, s1.Release())
	assert.Empty(t, openUnder(t, e.dst), "descriptors on the card while released")

	// Another romsyncd installs a file while s1 is released.
	writeTree(t, e.src, map[string]string{"gb/c.gb": "c"})
	r := e.mustPass(t)
	require.Equal(t, 1, r.Copied)

	// s1 knows it is romsyncd's: the library dropping it deletes it.
	require.NoError(t, os.Remove(filepath.Join(e.src, "gb/c.gb")))
	r, err = s1.Pass(context.Background(), Scope{All: true})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Deleted, "%+v", r)
	assert.True(t, r.InSync, "%+v", r)
}

// openUnder lists this process's open descriptors on files under dir.
func openUnder(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && (p == dir || strings.HasPrefix(p, dir+"/")) {
			out = append(out, p)
		}
	}
	return out
}

// TestFirstPassKilledAfterCreatingTheTargetIsFinished: a first pass killed
// between creating the target folder and writing its marker left an empty
// folder. This host noted that it was creating it, so the next pass
// finishes the job; an empty folder this host did not start creating is
// still refused (TestScripts/sync_target_refused).
func TestFirstPassKilledAfterCreatingTheTargetIsFinished(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	require.NoError(t, os.MkdirAll(e.dst, 0o755))
	require.NoError(t, os.MkdirAll(e.state, 0o755))
	_, err := e.pass(t)
	require.ErrorIs(t, err, outcome.ErrMarkerMissing, "an empty folder nobody noted is not ours")

	require.NoError(t, os.WriteFile(filepath.Join(e.state, "test.creating"), []byte(e.dst+"\n"), 0o644))
	r := e.mustPass(t)
	assert.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 1, r.Copied)
	assert.NoFileExists(t, filepath.Join(e.state, "test.creating"), "the note goes once the target is marked")
}

// TestEmptyFolderACutRunCreatedIsRemoved: a run killed after it moved the
// last file out of a folder it had created, before it removed the folder,
// left the folder empty with a manifest saying romsyncd created it; the
// next full pass removes it (and only while it is empty).
func TestEmptyFolderACutRunCreatedIsRemoved(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	e.mustPass(t)
	meta := filepath.Join(e.dst, cardstate.MetaDirName)
	for _, d := range []string{"gb/Hacks", "gb/Mine"} {
		require.NoError(t, os.MkdirAll(filepath.Join(e.dst, d), 0o755))
		require.NoError(t, cardstate.WriteManifest(meta, &cardstate.Folder{Dir: d, Created: true, Files: map[string]*cardstate.Entry{}}, true))
	}
	require.NoError(t, os.WriteFile(filepath.Join(e.dst, "gb/Mine/notes.txt"), []byte("user"), 0o644))
	r := e.mustPass(t)
	assert.True(t, r.InSync, "%+v", r)
	assert.NoDirExists(t, filepath.Join(e.dst, "gb/Hacks"))
	assert.FileExists(t, filepath.Join(e.dst, "gb/Mine/notes.txt"), "a folder the user filled stays")
}

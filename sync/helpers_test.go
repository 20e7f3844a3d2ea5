package sync

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// history remembers every version each library file ever had, by the path
// it gets on the target, so that a test can check the product's promise: a
// file under its final name is a complete copy of a version the library
// really had.
type history struct {
	mu       stdsync.Mutex
	versions map[string]map[uint64]int64 // target path → hash → size
}

func newHistory() *history {
	return &history{versions: map[string]map[uint64]int64{}}
}

// saw records content as a version of the file that lands at target path tp.
func (h *history) saw(tp string, content []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.versions[tp]
	if m == nil {
		m = map[uint64]int64{}
		h.versions[tp] = m
	}
	m[xxhash.Sum64(content)] = int64(len(content))
}

// had reports whether content is a version of the file at target path tp.
func (h *history) had(tp string, content []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	size, ok := h.versions[tp][xxhash.Sum64(content)]
	return ok && size == int64(len(content))
}

// write writes content to library path rel under root with mtime mt (zero:
// a fixed odd-second, sub-second time) and records it as a version of target
// path rel (the identity mapping; card tests record mapped paths with saw).
func (h *history) write(t *testing.T, root, rel string, content []byte, mt time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, content, 0o644))
	if mt.IsZero() {
		mt = time.Date(2024, 3, 5, 7, 9, 11, 987654321, time.UTC)
	}
	require.NoError(t, os.Chtimes(p, mt, mt))
	h.saw(rel, content)
}

// rememberLibrary records the current content of every library file as a
// version (after a fault appended to one, say).
func (h *history) rememberLibrary(t *testing.T, root string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.saw(filepath.ToSlash(rel), data)
		return nil
	}))
}

// content returns n bytes that differ from every other seed's.
func content(seed string, n int) []byte {
	b := make([]byte, n)
	x := xxhash.Sum64String(seed) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func isTemp(name string) bool {
	return strings.HasPrefix(name, cardstate.TempPrefix) && strings.HasSuffix(name, cardstate.TempSuffix)
}

// tempFiles lists every romsyncd temp file under root, .romsyncd included.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if isTemp(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// checkTarget asserts the promises that hold at any instant, even after a
// failed or cancelled pass:
//   - every file under a final name outside .romsyncd is a user file with
//     its content unchanged, or a complete copy of a version the library had
//     (temp files are allowed here only with temps);
//   - every manifest entry describes a file really there with the recorded
//     size and hash (or, for a pending install, one of its two versions).
func checkTarget(t *testing.T, root string, h *history, user map[string]string, temps bool) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if isTemp(d.Name()) {
			if !temps {
				t.Errorf("temp file left on the target: %s", rel)
			}
			return nil
		}
		if d.IsDir() && d.Name() == cardstate.MetaDirName {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if c, ok := user[rel]; ok {
			assert.Equal(t, c, string(data), "user file %s changed", rel)
			return nil
		}
		assert.True(t, h.had(rel, data), "%s (%d bytes) is no version the library had", rel, len(data))
		return nil
	})
	require.NoError(t, err)
	for p := range user {
		_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p)))
		assert.NoError(t, err, "user file %s removed", p)
	}
	checkManifests(t, root, false)
}

// checkManifests asserts that the manifests list only files really on the
// target, with their recorded size and content. With settled (after a pass
// that completed), no install may be pending and every listed file must be
// there; otherwise a listed file may be missing: a deletion removes the file
// before it commits the manifest, and a pass that failed in between leaves
// an entry that the next pass forgets ("gone from target and library").
// A listed file that is there must always be what was installed.
func checkManifests(t *testing.T, root string, settled bool) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, cardstate.MetaDirName, cardstate.MarkerName)); err != nil {
		return // no target (yet)
	}
	mans, err := cardstate.LoadManifests(filepath.Join(root, cardstate.MetaDirName))
	require.NoError(t, err)
	for dir, f := range mans {
		for name, e := range f.Files {
			tp := path.Join(dir, name)
			if e.Moved != "" {
				tp = path.Join(dir, e.Moved) // where the device moved it
			}
			if settled {
				assert.Nil(t, e.Pending, "install of %s still pending after a complete pass", tp)
			}
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(tp)))
			if e.Pending != nil {
				if err != nil {
					continue // the rename never happened
				}
				got := cardstate.Hash(xxhash.Sum64(data))
				ok := got == e.Pending.Hash || e.Installed() && got == e.Target.Hash
				assert.True(t, ok, "%s holds neither the pending nor the installed version", tp)
				continue
			}
			if err != nil && !settled && os.IsNotExist(err) {
				continue
			}
			if !assert.NoError(t, err, "manifest lists %s", tp) {
				continue
			}
			assert.Equal(t, e.Target.Size, int64(len(data)), "size of %s", tp)
			assert.Equal(t, e.Target.Hash, cardstate.Hash(xxhash.Sum64(data)), "content of %s", tp)
		}
	}
}

// checkConverged asserts that the target holds exactly the library's
// current files (at their target paths, want) plus the user's, that no temp
// file is left and the manifests are settled.
func checkConverged(t *testing.T, root string, want map[string][]byte, user map[string]string) {
	t.Helper()
	got := readTree(t, root)
	for p, c := range user {
		assert.Equal(t, c, got[p], "user file %s", p)
		delete(got, p)
	}
	assert.Len(t, got, len(want), "files on the target: %v", keys(got))
	for p, c := range want {
		g, ok := got[p]
		if assert.True(t, ok, "%s missing on the target", p) {
			assert.True(t, string(c) == g, "%s differs from the library (%d vs %d bytes)", p, len(g), len(c))
		}
	}
	assert.Empty(t, tempFiles(t, root), "temp files")
	checkManifests(t, root, true)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// libraryFiles reads the library as the target should hold it with the
// identity mapping (litter left out).
func libraryFiles(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || alwaysSkipped(d.Name(), false) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	}))
	return out
}

// runPass opens a session with opts, runs one full pass under ctx and
// closes the session.
func runPass(ctx context.Context, t *testing.T, opts Options) (*Report, error) {
	t.Helper()
	s, err := Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Pass(ctx, Scope{All: true})
}

func mustRun(t *testing.T, opts Options) *Report {
	t.Helper()
	r, err := runPass(context.Background(), t, opts)
	require.NoError(t, err)
	return r
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// progressFunc adapts a function to Progress.
type progressFunc func(files int, bytes int64)

func (progressFunc) Planned(int, int64)            {}
func (f progressFunc) Done(files int, bytes int64) { f(files, bytes) }

// reasons maps each item's path to its reason.
func reasons(items []Item) map[string]string {
	out := map[string]string{}
	for _, it := range items {
		out[it.Path] = it.Reason
	}
	return out
}

// paths lists the paths of items, in order.
func paths(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Path
	}
	return out
}

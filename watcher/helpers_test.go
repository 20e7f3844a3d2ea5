package watcher

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait on the real clock; it is generous because it
// is only reached when a test fails.
const waitTimeout = 15 * time.Second

// recorder collects emitted batches.
type recorder struct {
	mu      sync.Mutex
	batches []Batch
	times   []time.Time
}

func (rec *recorder) emit(b Batch) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.batches = append(rec.batches, b)
	rec.times = append(rec.times, time.Now())
}

// mark returns a position in the recording; later calls look at what was
// emitted after it.
func (rec *recorder) mark() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.batches)
}

// since returns the batches emitted after the mark.
func (rec *recorder) since(mark int) []Batch {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.batches[mark:])
}

// dirsSince returns every folder emitted after the mark.
func (rec *recorder) dirsSince(mark int) map[string]int {
	seen := map[string]int{}
	for _, b := range rec.since(mark) {
		for _, d := range b.Dirs {
			seen[d]++
		}
	}
	return seen
}

// dirNamesSince returns the folders emitted after the mark, sorted.
func (rec *recorder) dirNamesSince(mark int) []string {
	return slices.Sorted(maps.Keys(rec.dirsSince(mark)))
}

func (rec *recorder) allSince(mark int) bool {
	for _, b := range rec.since(mark) {
		if b.All {
			return true
		}
	}
	return false
}

// emissions returns the times at which dir was emitted.
func (rec *recorder) emissions(dir string) []time.Time {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var ts []time.Time
	for i, b := range rec.batches {
		if slices.Contains(b.Dirs, dir) {
			ts = append(ts, rec.times[i])
		}
	}
	return ts
}

// waitDirs waits until every dir was emitted after the mark.
func (rec *recorder) waitDirs(t *testing.T, mark int, dirs ...string) {
	t.Helper()
	waitFor(t, func() bool {
		seen := rec.dirsSince(mark)
		for _, d := range dirs {
			if seen[d] == 0 {
				return false
			}
		}
		return true
	}, "folders %q to be emitted; got %v", dirs, func() any { return rec.since(mark) })
}

// waitAll waits until a Batch{All: true} was emitted after the mark.
func (rec *recorder) waitAll(t *testing.T, mark int) {
	t.Helper()
	waitFor(t, func() bool { return rec.allSince(mark) },
		"a full-pass batch; got %v", func() any { return rec.since(mark) })
}

// waitFor polls cond until it holds or waitTimeout passes. Lazy arguments
// (func() any) are evaluated only for the failure message.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() any); ok {
					args[i] = f()
				}
			}
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startWatcher runs a Watcher until the test ends and waits for Ready.
func startWatcher(t *testing.T, opts Options, emit func(Batch)) *Watcher {
	t.Helper()
	w, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, emit) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Run")
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("Run returned before Ready: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("Ready not closed")
	}
	return w
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// records returns the logged records whose message starts with prefix.
func (l *logBuffer) records(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := slices.Clone(l.buf.Bytes())
	l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(data) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(line, &rec), "log line %s", line)
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, rec)
		}
	}
	return out
}

// mkdirs creates folders under root.
func mkdirs(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		require.NoError(t, os.MkdirAll(filepath.Join(root, rel), 0o755))
	}
}

// writeFile writes a file under root, creating its folder.
func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

// appendFile appends to a file under root.
func appendFile(t *testing.T, root, rel string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(root, rel), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// requireRoot skips tests that change kernel settings or mount filesystems.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: changes /proc/sys/fs/inotify limits or mounts a filesystem")
	}
}

// setSysctl writes an integer to /proc/sys/<name> and returns a function that
// restores the old value; the test's cleanup restores it too.
func setSysctl(t *testing.T, name string, value int) (restore func()) {
	t.Helper()
	p := filepath.Join("/proc/sys", name)
	old, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strconv.Itoa(value)), 0o644), "set %s", p)
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := os.WriteFile(p, old, 0o644); err != nil {
				t.Errorf("restore %s to %s: %v", p, bytes.TrimSpace(old), err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// inotifyWatchesInUse counts the inotify watches held by root's processes,
// which count against max_user_watches together with ours.
func inotifyWatchesInUse(t *testing.T) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	n := 0
	for _, proc := range procs {
		status, err := os.ReadFile(filepath.Join(proc, "status"))
		if err != nil || !bytes.Contains(status, []byte("\nUid:\t0\t")) {
			continue // gone, or another user's
		}
		infos, _ := filepath.Glob(filepath.Join(proc, "fdinfo", "*"))
		for _, info := range infos {
			b, err := os.ReadFile(info)
			if err != nil {
				continue
			}
			n += bytes.Count(b, []byte("\ninotify wd:"))
		}
	}
	return n
}

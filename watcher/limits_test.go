package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests lower system-wide inotify limits for a moment (restoring them
// in Cleanup); they are not parallel, so no other test of this package holds
// inotify resources meanwhile.

func TestWatchLimitPollsTheFoldersItCannotWatch(t *testing.T) {
	requireRoot(t)
	const folders = 20
	root := t.TempDir()
	var want []string
	for i := range folders {
		d := fmt.Sprintf("platform-%02d", i)
		want = append(want, d)
		mkdirs(t, root, d)
	}

	// Leave room for 3 watches of ours next to what root's processes hold.
	limit := inotifyWatchesInUse(t) + 3
	restore := setSysctl(t, "fs/inotify/max_user_watches", limit)
	var logs logBuffer
	rec := &recorder{}
	w := startWatcher(t, Options{
		Root: root, Mode: ModeNotify, MaxDelay: time.Second,
		PollInterval: 20 * time.Millisecond, Logger: logs.logger(),
	}, rec.emit)

	st := w.Stats()
	t.Logf("with max_user_watches=%d: %+v", limit, st)
	assert.Equal(t, "notify", st.Mode)
	require.Positive(t, st.Polled, "some folders could not be watched")
	assert.Equal(t, folders+1, st.Watches+st.Polled, "every folder is watched or polled")

	// Every folder reports its change, the unwatched ones by polling.
	m := rec.mark()
	for _, d := range want {
		writeFile(t, root, d+"/game.bin", "rom")
	}
	rec.waitDirs(t, m, want...)

	warns := logs.records(t, "inotify watch limit reached")
	require.Len(t, warns, 1, "logged once")
	assert.Equal(t, "WARN", warns[0]["level"])
	assert.EqualValues(t, st.Polled, warns[0]["polled"])
	assert.Equal(t, strconv.Itoa(limit), warns[0]["max_user_watches"])
	assert.Contains(t, warns[0]["fix"], "sysctl -w fs.inotify.max_user_watches=")

	// Once the limit is raised, the polled folders get their watches.
	restore()
	waitFor(t, func() bool { return w.Stats().Polled == 0 }, "every folder watched again; stats %+v", func() any { return w.Stats() })
	assert.Equal(t, folders+1, w.Stats().Watches)
	assert.Len(t, logs.records(t, "every folder has an inotify watch again"), 1)
	m = rec.mark()
	writeFile(t, root, "platform-19/game2.bin", "rom")
	rec.waitDirs(t, m, "platform-19")
}

func TestOverflowRecrawlsAndAsksForAFullPass(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	mkdirs(t, root, "busy")

	// The queue length is fixed when the inotify instance is created.
	restore := setSysctl(t, "fs/inotify/max_queued_events", 64)
	gate := make(chan struct{})
	var once, release sync.Once
	rec := &recorder{}
	emit := func(b Batch) {
		rec.emit(b)
		once.Do(func() { <-gate }) // hold Run in the first emission
	}
	w := startWatcher(t, Options{Root: root, Mode: ModeNotify, MaxDelay: time.Second, PollInterval: time.Second}, emit)
	restore()
	open := func() { release.Do(func() { close(gate) }) }
	t.Cleanup(open) // before the watcher's cleanup, even if the test fails

	writeFile(t, root, "busy/first", "")
	waitFor(t, func() bool { return rec.mark() > 0 }, "the first emission")

	// Run is stuck in emit: the kernel queue overflows, and the Create of
	// "late" is lost with it.
	for i := range 1000 {
		require.NoError(t, os.WriteFile(filepath.Join(root, "busy", fmt.Sprintf("f%04d", i)), []byte("x"), 0o644))
	}
	mkdirs(t, root, "late/sub")
	m := rec.mark()
	open()

	rec.waitAll(t, m)
	assert.GreaterOrEqual(t, w.Stats().Overflows, 1)
	// The re-crawl watched the folders whose events were lost.
	waitWatches(t, w, 4)
	m = rec.mark()
	writeFile(t, root, "late/sub/game.bin", "rom")
	rec.waitDirs(t, m, "late/sub")
}

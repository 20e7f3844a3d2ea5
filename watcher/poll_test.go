package watcher

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run in a synctest bubble: time is fake, so the debounce and
// max-delay rules are checked to the millisecond without sleeping, while
// the polled files are real ones in t.TempDir().

const pollEvery = 50 * time.Millisecond

// runInBubble starts w in the current bubble and returns a function that
// stops it and checks that Run returned nil.
func runInBubble(t *testing.T, w *Watcher, emit func(Batch)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, emit) }()
	<-w.Ready()
	return func() {
		cancel()
		assert.NoError(t, <-done)
	}
}

func newPollWatcher(t *testing.T, opts Options) *Watcher {
	t.Helper()
	opts.Mode = ModePoll
	if opts.PollInterval == 0 {
		opts.PollInterval = pollEvery
	}
	w, err := New(opts)
	require.NoError(t, err)
	return w
}

func TestPollDetectsChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		for _, d := range []string{"create", "write", "samesize", "chmod", "remove", "rename", "replace"} {
			writeFile(t, root, d+"/game.bin", "rom")
		}
		writeFile(t, root, "gone/sub/x.bin", "rom")
		rec := &recorder{}
		w := newPollWatcher(t, Options{Root: root, MaxDelay: time.Second})
		stop := runInBubble(t, w, rec.emit)
		defer stop()
		assert.Equal(t, Stats{Polled: 10, Mode: "poll"}, w.Stats())

		old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, tc := range []struct {
			name string
			op   func()
			want []string
		}{
			{"new file", func() { writeFile(t, root, "create/new.bin", "") }, []string{"create"}},
			{"append", func() { appendFile(t, root, "write/game.bin", []byte("more")) }, []string{"write"}},
			{"same size, other mtime", func() {
				require.NoError(t, os.Chtimes(filepath.Join(root, "samesize/game.bin"), old, old))
			}, []string{"samesize"}},
			{"chmod", func() { require.NoError(t, os.Chmod(filepath.Join(root, "chmod/game.bin"), 0o600)) }, []string{"chmod"}},
			{"remove", func() { require.NoError(t, os.Remove(filepath.Join(root, "remove/game.bin"))) }, []string{"remove"}},
			{"rename", func() {
				require.NoError(t, os.Rename(filepath.Join(root, "rename/game.bin"), filepath.Join(root, "rename/b.bin")))
			}, []string{"rename"}},
			{"replaced by a rename, same size and mtime", func() {
				// What a copy tool's temp file + rename leaves: only the
				// inode and ctime tell it apart.
				p := filepath.Join(root, "replace/game.bin")
				fi, err := os.Stat(p)
				require.NoError(t, err)
				writeFile(t, root, "replace/.tmp", "ROM")
				require.NoError(t, os.Chtimes(filepath.Join(root, "replace/.tmp"), fi.ModTime(), fi.ModTime()))
				require.NoError(t, os.Rename(filepath.Join(root, "replace/.tmp"), p))
			}, []string{"replace"}},
			{"new tree", func() { writeFile(t, root, "a/b/c/f", "x") }, []string{".", "a", "a/b", "a/b/c"}},
			{"removed tree", func() { require.NoError(t, os.RemoveAll(filepath.Join(root, "gone"))) }, []string{".", "gone", "gone/sub"}},
		} {
			m := rec.mark()
			tc.op()
			time.Sleep(2 * pollEvery)
			synctest.Wait()
			var got []string
			for _, b := range rec.since(m) {
				got = append(got, b.Dirs...)
			}
			assert.Equal(t, tc.want, got, tc.name)
		}
		assert.Equal(t, Stats{Polled: 11, Mode: "poll"}, w.Stats(), "a, a/b, a/b/c added; gone, gone/sub dropped")
	})
}

func TestPollSlowWriterIsEmittedOnceAfterItStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const debounce = 500 * time.Millisecond
		root := t.TempDir()
		mkdirs(t, root, "ps2")
		rec := &recorder{}
		w := newPollWatcher(t, Options{Root: root, Debounce: debounce, MaxDelay: time.Minute})
		stop := runInBubble(t, w, rec.emit)
		defer stop()

		start := time.Now()
		chunk := make([]byte, 64<<10)
		for range 30 { // 3 s of a write every 100 ms
			time.Sleep(100 * time.Millisecond)
			appendFile(t, root, "ps2/God of War (USA).iso", chunk)
		}
		stopped := time.Now()
		time.Sleep(debounce + 4*pollEvery)
		synctest.Wait()

		got := rec.emissions("ps2")
		require.Len(t, got, 1, "one emission for the whole copy")
		assert.Equal(t, 3*time.Second, stopped.Sub(start))
		after := got[0].Sub(stopped)
		assert.GreaterOrEqual(t, after, debounce, "quiet for the debounce period after the last write")
		assert.LessOrEqual(t, after, debounce+pollEvery, "and seen by the first poll after it")
	})
}

func TestPollMaxDelayEmitsAFolderThatKeepsChanging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxDelay = time.Second
		root := t.TempDir()
		mkdirs(t, root, "ps2")
		rec := &recorder{}
		w := newPollWatcher(t, Options{Root: root, Debounce: 500 * time.Millisecond, MaxDelay: maxDelay})
		stop := runInBubble(t, w, rec.emit)
		defer stop()

		start := time.Now()
		chunk := make([]byte, 64<<10)
		for range 35 { // 3.5 s of a write every 100 ms
			time.Sleep(100 * time.Millisecond)
			appendFile(t, root, "ps2/Shadow of the Colossus (USA).iso", chunk)
		}
		stopped := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()

		got := rec.emissions("ps2")
		require.GreaterOrEqual(t, len(got), 3, "emitted while the writes kept coming: %v", got)
		assert.True(t, got[0].Before(stopped))
		// After an emission (or the start) the next write comes within
		// 100 ms and is seen by the next poll; it is emitted at most
		// MaxDelay after that, though writes keep coming.
		prev := start
		for _, ts := range got {
			assert.LessOrEqual(t, ts.Sub(prev), 100*time.Millisecond+pollEvery+maxDelay, "emission at %v", ts.Sub(start))
			prev = ts
		}
		assert.True(t, got[len(got)-1].After(stopped), "the last writes are emitted too")
	})
}

func TestPollRootGoneIsLoggedOnceAndItsReturnAsksForAFullPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		root := filepath.Join(t.TempDir(), "library")
		writeFile(t, root, "gba/game.gba", "rom")
		rec := &recorder{}
		w := newPollWatcher(t, Options{Root: root, Logger: logs.logger()})
		stop := runInBubble(t, w, rec.emit)
		defer stop()

		m := rec.mark()
		require.NoError(t, os.RemoveAll(root))
		// Fake time only advances while Run is blocked: a Run that spun
		// would hang this sleep.
		time.Sleep(100 * pollEvery)
		synctest.Wait()
		assert.Len(t, logs.records(t, "source root is gone"), 1, "logged once in 100 poll intervals")
		assert.Empty(t, rec.since(m), "nothing emitted while the root is gone")
		assert.Zero(t, w.Stats().Polled)

		writeFile(t, root, "snes/game.sfc", "rom")
		time.Sleep(2 * pollEvery)
		synctest.Wait()
		assert.Equal(t, []Batch{{All: true}}, rec.since(m))
		assert.Len(t, logs.records(t, "source root is back"), 1)
		assert.Equal(t, 2, w.Stats().Polled)

		m = rec.mark()
		writeFile(t, root, "snes/game2.sfc", "rom")
		time.Sleep(2 * pollEvery)
		synctest.Wait()
		assert.Equal(t, []Batch{{Dirs: []string{"snes"}}}, rec.since(m))
	})
}

func TestRootMissingWhenRunStartsIsWaitedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		root := filepath.Join(t.TempDir(), "library")
		mkdirs(t, root, ".")
		rec := &recorder{}
		w := newPollWatcher(t, Options{Root: root, Logger: logs.logger()})
		require.NoError(t, os.Remove(root)) // unmounted between New and Run
		stop := runInBubble(t, w, rec.emit)
		defer stop()
		assert.Len(t, logs.records(t, "source root is gone"), 1)

		mkdirs(t, root, "nes")
		time.Sleep(2 * pollEvery)
		synctest.Wait()
		assert.Equal(t, []Batch{{All: true}}, rec.since(0))
	})
}

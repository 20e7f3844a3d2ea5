package watcher

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// notifyOpts are options for real-filesystem inotify tests: no debounce, so
// that a folder is emitted as soon as its events are read.
func notifyOpts(root string) Options {
	return Options{Root: root, Mode: ModeNotify, MaxDelay: time.Second, PollInterval: 50 * time.Millisecond}
}

// waitWatches waits until the Watcher holds n watches.
func waitWatches(t *testing.T, w *Watcher, n int) {
	t.Helper()
	waitFor(t, func() bool { return w.Stats().Watches == n }, "%d watches; stats %+v", n, func() any { return w.Stats() })
}

func TestNotifyReadyMeansEveryFolderIsWatched(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "gba/hacks/translations", "snes", "psx/Final Fantasy VII (USA)")
	rec := &recorder{}
	w := startWatcher(t, notifyOpts(root), rec.emit)

	st := w.Stats()
	assert.Equal(t, Stats{Watches: 7, Mode: "notify"}, st, "root + 6 folders, before any event")

	// A change right after Ready, in the deepest folder, is not missed.
	m := rec.mark()
	writeFile(t, root, "gba/hacks/translations/Mother 3 (Japan) [T-En].gba", "rom")
	rec.waitDirs(t, m, "gba/hacks/translations")
}

func TestNotifyNewTreeIsCrawledAndReported(t *testing.T) {
	root := t.TempDir()
	rec := &recorder{}
	w := startWatcher(t, notifyOpts(root), rec.emit)

	// mkdir -p a/b/c && echo x > a/b/c/f: the file exists before any
	// watch on a/b/c does, and a/b/c is still reported.
	m := rec.mark()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a/b/c"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a/b/c/f"), []byte("x"), 0o644))
	rec.waitDirs(t, m, ".", "a", "a/b", "a/b/c")
	waitWatches(t, w, 4)

	m = rec.mark()
	writeFile(t, root, "a/b/c/g", "y")
	rec.waitDirs(t, m, "a/b/c")

	// A tree moved in arrives as a single Create; every folder in it is
	// reported and watched.
	outside := t.TempDir()
	writeFile(t, outside, "psx/Disc 1/game.cue", "cue")
	writeFile(t, outside, "psx/Disc 2/game.cue", "cue")
	writeFile(t, outside, "psx/Disc 2/extras/readme.txt", "txt")
	m = rec.mark()
	require.NoError(t, os.Rename(filepath.Join(outside, "psx"), filepath.Join(root, "psx")))
	rec.waitDirs(t, m, ".", "psx", "psx/Disc 1", "psx/Disc 2", "psx/Disc 2/extras")
	waitWatches(t, w, 8)

	m = rec.mark()
	writeFile(t, root, "psx/Disc 2/extras/manual.pdf", "pdf")
	rec.waitDirs(t, m, "psx/Disc 2/extras")
}

func TestNotifyFileEventsMarkTheirFolder(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"create", "write", "remove", "rename", "chmod", "touch"} {
		writeFile(t, root, d+"/game.bin", "rom")
	}
	rec := &recorder{}
	startWatcher(t, notifyOpts(root), rec.emit)

	for _, tc := range []struct {
		dir string
		op  func(p string) error
	}{
		{"create", func(p string) error { return os.WriteFile(filepath.Join(filepath.Dir(p), "new.bin"), nil, 0o644) }},
		{"write", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			_, err = f.Write([]byte("more"))
			return errorsJoin(err, f.Close())
		}},
		{"remove", os.Remove},
		{"rename", func(p string) error { return os.Rename(p, p+".old") }},
		{"chmod", func(p string) error { return os.Chmod(p, 0o600) }},
		{"touch", func(p string) error { // mtime only, as touch(1) does
			old := time.Now().Add(-time.Hour)
			return os.Chtimes(p, old, old)
		}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			m := rec.mark()
			require.NoError(t, tc.op(filepath.Join(root, tc.dir, "game.bin")))
			rec.waitDirs(t, m, tc.dir)
			// Nothing else: a file event marks its folder only.
			for d := range rec.dirsSince(m) {
				assert.Equal(t, tc.dir, d)
			}
		})
	}
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestNotifyRemovedFolderIsReportedWithItsParent(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "n64/hacks/deep/rom.z64", "rom")
	writeFile(t, root, "n64/game.z64", "rom")
	mkdirs(t, root, "cookie")
	rec := &recorder{}
	w := startWatcher(t, notifyOpts(root), rec.emit)
	require.Equal(t, 5, w.Stats().Watches)

	m := rec.mark()
	require.NoError(t, os.RemoveAll(filepath.Join(root, "n64")))
	rec.waitDirs(t, m, ".", "n64", "n64/hacks", "n64/hacks/deep")
	waitWatches(t, w, 2)
}

func TestNotifyFolderMovedOutIsDroppedAndNoLongerWatched(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "gb/Tetris (World).gb", "rom")
	writeFile(t, root, "gb/hacks/x.gb", "rom")
	mkdirs(t, root, "cookie")
	rec := &recorder{}
	w := startWatcher(t, notifyOpts(root), rec.emit)
	require.Equal(t, 4, w.Stats().Watches)

	outside := t.TempDir()
	m := rec.mark()
	require.NoError(t, os.Rename(filepath.Join(root, "gb"), filepath.Join(outside, "gb")))
	rec.waitDirs(t, m, ".", "gb", "gb/hacks")
	waitWatches(t, w, 2)

	// Changes in the moved-out tree are not ours any more. A cookie file
	// written after them proves they were read before it.
	m = rec.mark()
	writeFile(t, outside, "gb/hacks/y.gb", "rom")
	writeFile(t, outside, "gb/z.gb", "rom")
	writeFile(t, root, "cookie/1", "")
	rec.waitDirs(t, m, "cookie")
	assert.Equal(t, []string{"cookie"}, rec.dirNamesSince(m))
}

func TestNotifyFolderRenamedInsideTheTreeIsFollowed(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "Nintendo - SNES/hacks/a.sfc", "rom")
	rec := &recorder{}
	w := startWatcher(t, notifyOpts(root), rec.emit)
	require.Equal(t, 3, w.Stats().Watches)

	m := rec.mark()
	require.NoError(t, os.Rename(filepath.Join(root, "Nintendo - SNES"), filepath.Join(root, "snes")))
	rec.waitDirs(t, m, ".", "Nintendo - SNES", "Nintendo - SNES/hacks", "snes", "snes/hacks")
	waitWatches(t, w, 3)

	// The sub-folder's events carry its new name.
	m = rec.mark()
	writeFile(t, root, "snes/hacks/b.sfc", "rom")
	rec.waitDirs(t, m, "snes/hacks")
	assert.Equal(t, []string{"snes/hacks"}, rec.dirNamesSince(m))

	// A folder deleted and created again at once is watched again.
	m = rec.mark()
	require.NoError(t, os.RemoveAll(filepath.Join(root, "snes/hacks")))
	mkdirs(t, root, "snes/hacks")
	rec.waitDirs(t, m, "snes", "snes/hacks")
	waitWatches(t, w, 3)
	m = rec.mark()
	writeFile(t, root, "snes/hacks/c.sfc", "rom")
	rec.waitDirs(t, m, "snes/hacks")
}

func TestSkippedNamesAreNeitherWatchedNorReported(t *testing.T) {
	skip := func(rel string, isDir bool) bool {
		base := path.Base(rel)
		return (isDir && base == ".git") || strings.HasPrefix(base, "._")
	}
	for _, mode := range []Mode{ModeNotify, ModePoll} {
		t.Run(mode.String(), func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root, ".git/objects/ab/cdef", "obj")
			writeFile(t, root, "gba/game.gba", "rom")
			mkdirs(t, root, "cookie")
			rec := &recorder{}
			opts := notifyOpts(root)
			opts.Mode = mode
			opts.PollInterval = 20 * time.Millisecond
			opts.Skip = skip
			w := startWatcher(t, opts, rec.emit)
			st := w.Stats()
			assert.Equal(t, 3, st.Watches+st.Polled, "root, gba and cookie; nothing under .git")

			m := rec.mark()
			writeFile(t, root, ".git/objects/ab/0123", "obj")
			writeFile(t, root, "gba/._game.gba", "resource fork")
			writeFile(t, root, "gba/.git/config", "cfg")
			writeFile(t, root, "._cookie", "")
			writeFile(t, root, "cookie/1", "")
			rec.waitDirs(t, m, "cookie")
			assert.Equal(t, []string{"cookie"}, rec.dirNamesSince(m))
			st = w.Stats()
			assert.Equal(t, 3, st.Watches+st.Polled)

			m = rec.mark()
			writeFile(t, root, "gba/game2.gba", "rom")
			rec.waitDirs(t, m, "gba")
		})
	}
}

func TestNotifySlowWriterIsEmittedOnceAfterItStops(t *testing.T) {
	const debounce = 2 * time.Second // well above a 100 ms write gap on a busy machine
	root := t.TempDir()
	mkdirs(t, root, "ps2")
	rec := &recorder{}
	opts := notifyOpts(root)
	opts.Debounce = debounce
	opts.MaxDelay = time.Minute
	startWatcher(t, opts, rec.emit)

	// A big disc image copied slowly: a write every 100 ms.
	chunk := make([]byte, 64<<10)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 15 {
		appendFile(t, root, "ps2/Gran Turismo 4 (USA).iso", chunk)
		<-tick.C
	}
	stopped := time.Now()
	waitFor(t, func() bool { return len(rec.emissions("ps2")) > 0 }, "ps2 to be emitted")
	got := rec.emissions("ps2")
	require.Len(t, got, 1, "one emission for the whole copy")
	assert.False(t, got[0].Before(stopped), "emitted after the writer stopped")
}

func TestNotifyChurnEmitsEveryFolderFewTimes(t *testing.T) {
	const folders, files = 50, 100
	root := t.TempDir()
	rec := &recorder{}
	opts := notifyOpts(root)
	opts.Debounce = 500 * time.Millisecond
	opts.MaxDelay = 10 * time.Second
	w := startWatcher(t, opts, rec.emit)

	m := rec.mark()
	var want []string
	for i := range folders {
		dir := fmt.Sprintf("platform-%02d", i)
		want = append(want, dir)
		require.NoError(t, os.Mkdir(filepath.Join(root, dir), 0o755))
		for j := range files {
			require.NoError(t, os.WriteFile(filepath.Join(root, dir, fmt.Sprintf("game %03d.bin", j)), []byte("rom"), 0o644))
		}
	}
	rec.waitDirs(t, m, want...)
	assert.False(t, rec.allSince(m), "no overflow: nothing needed a full pass")
	assert.Zero(t, w.Stats().Overflows)
	for dir, n := range rec.dirsSince(m) {
		if dir == "." {
			// Touched by each of the 50 mkdirs, spread over the whole
			// burst; still far fewer emissions than events.
			assert.Less(t, n, folders/2, "root emitted %d times", n)
			continue
		}
		assert.LessOrEqual(t, n, 3, "folder %s emitted %d times", dir, n)
	}
	assert.Equal(t, folders+1, w.Stats().Watches)
}

func TestNotifyRootDisappearsAndComesBack(t *testing.T) {
	var logs logBuffer
	root := filepath.Join(t.TempDir(), "library")
	writeFile(t, root, "gba/game.gba", "rom")
	rec := &recorder{}
	opts := notifyOpts(root)
	opts.Logger = logs.logger()
	w := startWatcher(t, opts, rec.emit)

	require.NoError(t, os.RemoveAll(root))
	// Folders emptied before the root itself went are reported as usual
	// (the engine refuses to delete from a missing source); from the moment
	// the root is known gone, only its return is.
	waitFor(t, func() bool { return len(logs.records(t, "source root is gone")) > 0 }, "the root to be noticed gone")
	m := rec.mark()
	waitWatches(t, w, 0)

	writeFile(t, root, "snes/game.sfc", "rom")
	rec.waitAll(t, m)
	assert.Len(t, logs.records(t, "source root is gone"), 1, "logged once")
	for _, b := range rec.since(m) {
		assert.True(t, b.All, "nothing but the full pass while the root was gone: %+v", b)
	}
	waitWatches(t, w, 2)

	m = rec.mark()
	writeFile(t, root, "snes/game2.sfc", "rom")
	rec.waitDirs(t, m, "snes")
}

func TestNotifyRootReplacedAsksForAFullPass(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "library")
	writeFile(t, root, "gba/game.gba", "rom")
	rec := &recorder{}
	w := startWatcher(t, notifyOpts(root), rec.emit)

	// Like a NAS remounted over the same path: another folder, same name.
	m := rec.mark()
	require.NoError(t, os.Rename(root, filepath.Join(parent, "old")))
	writeFile(t, root, "nes/game.nes", "rom")
	rec.waitAll(t, m)
	waitWatches(t, w, 2)

	m = rec.mark()
	writeFile(t, parent, "old/gba/ignored.gba", "rom")
	writeFile(t, root, "nes/game2.nes", "rom")
	rec.waitDirs(t, m, "nes")
	assert.NotContains(t, rec.dirsSince(m), "gba", "the old tree is not watched any more")
}

func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "a/b")
	for _, mode := range []Mode{ModeNotify, ModePoll} {
		w, err := New(Options{Root: root, Mode: mode, PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- w.Run(ctx, func(Batch) {}) }()
		<-w.Ready()
		writeFile(t, root, "a/b/f", mode.String())
		cancel()
		require.NoError(t, <-done)
	}
	goleak.VerifyNone(t)
}

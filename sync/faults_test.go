package sync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/faultfs"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// faultSource is a library served through faultfs: the engine reads it
// through Dir(), the test writes the backing folder.
type faultSource struct {
	*realEnv
	fs      *faultfs.FS
	backing string
}

// newFaultSource mirrors a library served by faultfs to a target folder on
// the test's disk, with one file the user keeps on the target.
func newFaultSource(t *testing.T) *faultSource {
	t.Helper()
	e := newRealEnv(t, filepath.Join(t.TempDir(), "card", "Roms"))
	f := &faultSource{realEnv: e, backing: e.src}
	f.fs = faultfs.Mount(t, e.src, faultfs.Options{Seed: 1})
	f.opts.Source = f.fs.Dir()
	return f
}

func fault(set func(*faultfs.Fault)) faultfs.Fault {
	f := faultfs.NoFault()
	set(&f)
	return f
}

// installed reads the target's copy of rel ("" when absent).
func (e *realEnv) installed(t *testing.T, rel string) (string, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.dst, filepath.FromSlash(rel)))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	require.NoError(t, err)
	return string(data), true
}

// seed mirrors a first library version and puts a user file on the target.
func (f *faultSource) seed(t *testing.T) {
	t.Helper()
	f.lib(t, "gb/a.gb", content("a1", 2<<20+17))
	f.lib(t, "gb/b.gb", content("b1", 300<<10))
	f.lib(t, "gb/old.gb", content("old", 1000))
	f.lib(t, "nes/n.nes", content("n1", 40<<10))
	r := mustRun(t, f.opts)
	require.True(t, r.InSync, "%+v", r)
	f.userFile(t, "gb/a.srm", "save")
}

func TestSourceEIORetriedThenReportedAndDeletesHeld(t *testing.T) {
	f := newFaultSource(t)
	f.seed(t)
	a1, _ := f.installed(t, "gb/a.gb")

	// A new version of a.gb whose second MiB cannot be read; old.gb left
	// the library.
	f.lib(t, "gb/a.gb", content("a2", 3<<20))
	require.NoError(t, os.Remove(filepath.Join(f.backing, "gb/old.gb")))
	f.fs.Set("gb/a.gb", fault(func(x *faultfs.Fault) { x.EIOAtOffset = 1<<20 + 5 }))
	r, err := runPass(context.Background(), t, f.opts)
	require.NoError(t, err, "a read error is the file's, not the profile's")
	assert.GreaterOrEqual(t, f.fs.Injected()[faultfs.KindEIO], copyAttempts, "retried")
	assert.GreaterOrEqual(t, r.Duration, retryBackoff*3, "with backoff")
	require.Contains(t, reasons(r.Errors), "gb/a.gb")
	assert.Contains(t, reasons(r.Errors)["gb/a.gb"], "input/output error")
	assert.NotEmpty(t, r.DeletesHeld, "a library that could not be read whole deletes nothing")
	assert.Zero(t, r.Deleted)
	assert.False(t, r.InSync)
	got, _ := f.installed(t, "gb/a.gb")
	assert.True(t, got == a1, "the final name keeps the previous good version")
	_, ok := f.installed(t, "gb/old.gb")
	assert.True(t, ok, "deletion held")
	f.check(t)

	f.fs.Clear("gb/a.gb")
	r = mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 1, r.Deleted)
	f.converged(t)
}

func TestSourceShortReadsStillCopyExactly(t *testing.T) {
	f := newFaultSource(t)
	f.fs.Set(faultfs.AllFiles, fault(func(x *faultfs.Fault) { x.ShortReads = true }))
	f.seed(t)
	assert.Positive(t, f.fs.Injected()[faultfs.KindShort])
	f.converged(t)
}

// TestSourceEarlyEOFIsNeverInstalled: reads that stop before the size the
// file has: reported as an error (not a short file under the final name);
// the final name keeps its previous version, or stays absent.
func TestSourceEarlyEOFIsNeverInstalled(t *testing.T) {
	f := newFaultSource(t)
	f.seed(t)
	a1, _ := f.installed(t, "gb/a.gb")
	f.lib(t, "gb/a.gb", content("a2", 3<<20))
	f.lib(t, "gb/new.gb", content("new", 500<<10))
	for _, rel := range []string{"gb/a.gb", "gb/new.gb"} {
		f.fs.Set(rel, fault(func(x *faultfs.Fault) { x.EarlyEOF = 200 << 10 }))
	}
	r, err := runPass(context.Background(), t, f.opts)
	require.NoError(t, err)
	assert.Positive(t, f.fs.Injected()[faultfs.KindEOF])
	errs := reasons(r.Errors)
	for _, rel := range []string{"gb/a.gb", "gb/new.gb"} {
		assert.Contains(t, errs[rel], "short read", rel)
	}
	assert.NotContains(t, reasons(r.Skipped), "gb/a.gb")
	got, _ := f.installed(t, "gb/a.gb")
	assert.True(t, got == a1, "previous version kept")
	_, ok := f.installed(t, "gb/new.gb")
	assert.False(t, ok, "a new file stays absent")
	f.check(t)

	f.fs.Clear("gb/a.gb")
	f.fs.Clear("gb/new.gb")
	r = mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	f.converged(t)
}

// TestSourceChangedWhileReadIsBusy: a library file written while it is
// copied is reported busy and not installed; the next pass, once it
// settled, installs the new version.
func TestSourceChangedWhileReadIsBusy(t *testing.T) {
	f := newFaultSource(t)
	f.seed(t)
	b1, _ := f.installed(t, "gb/b.gb")
	// Each changed file is the only copy of its folder: the copier reads a
	// batch's files ahead (readahead), and that first read would make the
	// fault change the file before its copy starts.
	changed := []string{"gb/b.gb", "gbc/new.gbc"}
	f.lib(t, "gb/b.gb", content("b2", 700<<10))
	f.lib(t, "gbc/new.gbc", content("new", 800<<10))
	for _, rel := range changed {
		f.fs.Set(rel, fault(func(x *faultfs.Fault) { x.ChangeWhileRead = true }))
	}
	r, err := runPass(context.Background(), t, f.opts)
	require.NoError(t, err)
	assert.Equal(t, 2, f.fs.Injected()[faultfs.KindChange])
	f.h.rememberLibrary(t, f.backing) // the appended versions are real ones
	sk := reasons(r.Skipped)
	for _, rel := range changed {
		assert.Contains(t, sk[rel], "busy", rel)
	}
	assert.Empty(t, r.Errors)
	got, _ := f.installed(t, "gb/b.gb")
	assert.True(t, got == b1, "previous version kept")
	_, ok := f.installed(t, "gbc/new.gbc")
	assert.False(t, ok)
	f.check(t)

	// The fault changes a file once: now it is settled.
	r = mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	assert.Equal(t, 2, r.Copied)
	got, _ = f.installed(t, "gbc/new.gbc")
	assert.True(t, strings.HasSuffix(got, "appended while being read --\n"), "the new version")
	f.converged(t)
}

// TestSourceStatSizeLieIsNeverInstalled: the size the library reports is
// not what its reads return (larger, smaller, or 0 for a file with data).
func TestSourceStatSizeLieIsNeverInstalled(t *testing.T) {
	f := newFaultSource(t)
	f.seed(t)
	lies := map[string]int64{"gb/bigger.gb": 1 << 20, "gb/smaller.gb": 1000, "gb/zero.gb": 0}
	for rel, size := range lies {
		f.lib(t, rel, content(rel, 300<<10))
		f.fs.Set(rel, fault(func(x *faultfs.Fault) { x.StatSize = size }))
	}
	r, err := runPass(context.Background(), t, f.opts)
	require.NoError(t, err)
	assert.Positive(t, f.fs.Injected()[faultfs.KindStatSize])
	errs := reasons(r.Errors)
	for rel := range lies {
		assert.Contains(t, errs, rel)
		_, ok := f.installed(t, rel)
		assert.False(t, ok, "%s installed although its size is a lie", rel)
	}
	f.check(t)

	for rel := range lies {
		f.fs.Clear(rel)
	}
	r = mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	f.converged(t)
}

// TestSourceSlowReadCancelled: a pass stuck on a slow library returns
// promptly once its context is cancelled, with context.Canceled, and leaves
// no temp file.
func TestSourceSlowReadCancelled(t *testing.T) {
	f := newFaultSource(t)
	f.seed(t)
	f.lib(t, "psx/disc.bin", content("disc", 8<<20))
	f.fs.Set("psx/disc.bin", fault(func(x *faultfs.Fault) { x.ReadDelay = 20 * time.Millisecond }))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		r   *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := runPass(ctx, t, f.opts)
		done <- result{r, err}
	}()
	waitFor(t, 20*time.Second, "the slow copy to start", func() bool {
		return f.fs.Injected()[faultfs.KindDelay] >= 3
	})
	cancel()
	cancelled := time.Now()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the pass did not return after its context was cancelled")
	}
	assert.Less(t, time.Since(cancelled), 2*time.Second, "returned promptly")
	assert.Empty(t, tempFiles(t, f.dst), "no temp file left by the cancelled pass")
	f.check(t)
	require.ErrorIs(t, res.err, context.Canceled)
	assert.Contains(t, res.r.Error, "context canceled")
	assert.False(t, res.r.InSync)

	f.fs.Clear("psx/disc.bin")
	r := mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	f.converged(t)
}

func TestSourceEmptyFileIsInstalledEmpty(t *testing.T) {
	f := newFaultSource(t)
	f.fs.Set(faultfs.AllFiles, fault(func(x *faultfs.Fault) { x.ShortReads = true }))
	f.lib(t, "gb/empty.gb", nil)
	f.lib(t, "gb/one.gb", []byte{7})
	r := mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	info, err := os.Stat(filepath.Join(f.dst, "gb/empty.gb"))
	require.NoError(t, err)
	assert.Zero(t, info.Size())
	f.converged(t)
	r = mustRun(t, f.opts)
	assert.Equal(t, 2, r.Unchanged)
	assert.Zero(t, r.Copied)
}

// faultTarget is a target folder served through faultfs.
type faultTarget struct {
	*realEnv
	fs *faultfs.FS
}

func newFaultTarget(t *testing.T) *faultTarget {
	t.Helper()
	backing := t.TempDir()
	fsys := faultfs.Mount(t, backing, faultfs.Options{Seed: 2})
	e := newRealEnv(t, filepath.Join(fsys.Dir(), "Roms"))
	e.opts.PerFileSync = true // a FUSE target, as the probe finds
	return &faultTarget{realEnv: e, fs: fsys}
}

func (f *faultTarget) seed(t *testing.T) {
	t.Helper()
	f.lib(t, "gb/a.gb", content("a1", 1<<20))
	f.lib(t, "gb/old.gb", content("old", 1000))
	r := mustRun(t, f.opts)
	require.True(t, r.InSync, "%+v", r)
	f.userFile(t, "gb/a.srm", "save")
	// The next version of the library.
	f.lib(t, "gb/a.gb", content("a2", 1<<20+3))
	f.lib(t, "gb/b.gb", content("b", 200<<10))
	f.lib(t, "nes/n.nes", content("n", 20<<10))
}

// TestTargetWriteFaults: writes to the card fail (EIO, ENOSPC) or its
// fsync does. Nothing half-written appears under a final name, no temp file
// stays, and the next pass on a healthy card converges.
func TestTargetWriteFaults(t *testing.T) {
	cases := []struct {
		name      string
		fault     func(*faultfs.Fault)
		kind      string
		perFile   bool
		wantFatal error // nil: reported per file
	}{
		{"write EIO", func(x *faultfs.Fault) { x.WriteEIO = true }, faultfs.KindWriteEIO, true, nil},
		{"write ENOSPC", func(x *faultfs.Fault) { x.WriteENOSPC = true }, faultfs.KindENOSPC, true, outcome.ErrTargetFull},
		{"fsync EIO", func(x *faultfs.Fault) { x.FsyncEIO = true }, faultfs.KindFsyncEIO, true, nil},
		{"close EIO (no per-file fsync)", func(x *faultfs.Fault) { x.FsyncEIO = true }, faultfs.KindFsyncEIO, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFaultTarget(t)
			f.opts.PerFileSync = c.perFile
			f.seed(t)
			a1, _ := f.installed(t, "gb/a.gb")
			require.NoError(t, os.Remove(filepath.Join(f.src, "gb/old.gb")))

			s, err := Open(context.Background(), f.opts)
			require.NoError(t, err)
			f.fs.Set(faultfs.AllFiles, fault(c.fault))
			r, err := s.Pass(context.Background(), Scope{All: true})
			f.fs.Clear(faultfs.AllFiles)
			s.Close()
			assert.Positive(t, f.fs.Injected()[c.kind])
			if c.wantFatal != nil {
				require.ErrorIs(t, err, c.wantFatal)
			} else {
				// The fault meets the first write to the card: the install
				// journal of the folder, or the file's temp copy.
				why := reasons(r.Errors)["gb/a.gb"] + reasons(r.Errors)["gb"]
				assert.Contains(t, why, "input/output error", "%+v", r.Errors)
				// The library was read whole: its deletions are not held
				// (nor blamed on it). Committing the deletion (the folder's
				// fsync, the manifest) meets the card's fault too, and fails
				// the pass.
				assert.Empty(t, r.DeletesHeld)
				assert.Equal(t, 1, r.Deleted)
				if assert.Error(t, err) {
					assert.Contains(t, err.Error(), "input/output error")
				}
			}
			assert.False(t, r.InSync)
			got, _ := f.installed(t, "gb/a.gb")
			assert.True(t, got == a1, "previous version kept")
			_, ok := f.installed(t, "gb/b.gb")
			assert.False(t, ok)
			f.check(t)

			r = mustRun(t, f.opts)
			assert.True(t, r.InSync, "%+v", r)
			f.converged(t)
		})
	}
}

// TestTargetFolderFsyncFails: the renames of a batch are in place but the
// folder's fsync fails, so they may not survive a power loss: the pass must
// say so rather than claim the target is in sync.
func TestTargetFolderFsyncFails(t *testing.T) {
	f := newFaultTarget(t)
	f.seed(t)
	s, err := Open(context.Background(), f.opts)
	require.NoError(t, err)
	f.fs.Set("Roms/gb", fault(func(x *faultfs.Fault) { x.FsyncEIO = true }))
	r, err := s.Pass(context.Background(), Scope{All: true})
	f.fs.Clear("Roms/gb")
	s.Close()
	require.NoError(t, err, "one folder's failure does not stop the profile")
	assert.Positive(t, f.fs.Injected()[faultfs.KindFsyncEIO])
	assert.False(t, r.InSync, "%+v", r)
	assert.Contains(t, reasons(r.Errors)["gb"], "input/output error")
	f.check(t)

	r = mustRun(t, f.opts)
	assert.True(t, r.InSync, "%+v", r)
	f.converged(t)
}

// TestCancelledPassReturnsCanceled: a pass whose context is cancelled while
// it installs must say so; the daemon and `romsyncd sync` otherwise take
// it for a complete pass.
func TestCancelledPassReturnsCanceled(t *testing.T) {
	e := newRealEnv(t, filepath.Join(t.TempDir(), "card"))
	e.opts.Workers = 1
	for _, d := range []string{"a", "b", "c"} {
		e.lib(t, d+"/x.rom", content(d, 1000))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.opts.Progress = progressFunc(func(int, int64) { cancel() })
	r, err := runPass(ctx, t, e.opts)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, r.InSync)
	assert.Equal(t, 1, r.Copied)
}

// TestTargetReadBackFaults: the card does not give back what was written
// (its reads end early): the verify step catches it, copies once more, and
// reports the file; nothing unverified is installed. (EIOAtOffset would
// fail the writes first: TestTargetWriteFaults.)
func TestTargetReadBackFaults(t *testing.T) {
	cases := []struct {
		name   string
		fault  func(*faultfs.Fault)
		kind   string
		reason string
	}{
		{"early EOF", func(x *faultfs.Fault) { x.EarlyEOF = 100 << 10 }, faultfs.KindEOF, "corrupted on the target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFaultTarget(t)
			f.seed(t)
			a1, _ := f.installed(t, "gb/a.gb")
			s, err := Open(context.Background(), f.opts)
			require.NoError(t, err)
			// Reads only: the writes of the copy go through.
			f.fs.Set(faultfs.AllFiles, fault(c.fault))
			r, err := s.Pass(context.Background(), Scope{All: true})
			f.fs.Clear(faultfs.AllFiles)
			s.Close()
			require.NoError(t, err)
			// Each of the two files read back twice: copied once more.
			assert.GreaterOrEqual(t, f.fs.Injected()[c.kind], 4)
			errs := reasons(r.Errors)
			for _, rel := range []string{"gb/a.gb", "gb/b.gb"} {
				assert.Contains(t, errs[rel], c.reason, rel)
			}
			assert.NotContains(t, errs, "nes/n.nes", "a file shorter than the fault is fine")
			got, _ := f.installed(t, "gb/a.gb")
			assert.True(t, got == a1, "previous version kept")
			_, ok := f.installed(t, "gb/b.gb")
			assert.False(t, ok)
			f.check(t)

			r = mustRun(t, f.opts)
			assert.True(t, r.InSync, "%+v", r)
			f.converged(t)
		})
	}
}

// TestSessionKeptAcrossAFolderFsyncFailure: the same, after a folder's
// fsync failed with its renames done and its installs still pending in
// memory.
func TestSessionKeptAcrossAFolderFsyncFailure(t *testing.T) {
	f := newFaultTarget(t)
	f.seed(t)
	s, err := Open(context.Background(), f.opts)
	require.NoError(t, err)
	defer s.Close()
	f.fs.Set("Roms/gb", fault(func(x *faultfs.Fault) { x.FsyncEIO = true }))
	r, err := s.Pass(context.Background(), Scope{All: true})
	f.fs.Clear("Roms/gb")
	require.NoError(t, err)
	assert.NotEmpty(t, r.Errors)
	f.check(t)

	r, err = s.Pass(context.Background(), Scope{All: true})
	require.NoError(t, err)
	assert.True(t, r.InSync, "%+v", r)
	f.converged(t)
	r, err = s.Pass(context.Background(), Scope{All: true})
	require.NoError(t, err)
	assert.Zero(t, r.HashedBytes)
}

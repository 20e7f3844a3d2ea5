package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"
)

const (
	bufSize       = 1 << 20
	batchFiles    = 256
	batchBytes    = 128 << 20
	freeReserve   = 1 << 20 // keep a little room for manifests
	copyAttempts  = 3
	retryBackoff  = 100 * time.Millisecond
	verifyRetries = 1
)

// errSourceChanged: the library file changed while it was read. The file is
// left for the next pass; it is reported as busy, not as an error.
var errSourceChanged = errors.New("source changed while it was copied")

// errShortRead: fewer (or more) bytes were read than the file's size, while
// the file did not change: a faulty read, retried and never installed.
var errShortRead = errors.New("short read")

// transient reports whether err is worth retrying.
func transient(err error) bool {
	return errors.Is(err, errShortRead) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINTR) ||
		errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ETIMEDOUT)
}

// targetFatal reports whether err means the target as a whole is unusable.
func targetFatal(err error) bool {
	return errors.Is(err, ErrTargetFull) || errors.Is(err, ErrTargetOffline)
}

// classifyTargetErr turns errors of writes to the target into the
// profile-level conditions they mean.
func classifyTargetErr(dir string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		have, _ := freeBytes(dir)
		return fmt.Errorf("%w: have %s free in %s: %v", ErrTargetFull, humanBytes(int64(have)), dir, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s is read-only: %v", ErrTargetOffline, dir, err)
	case errors.Is(err, syscall.ENOTCONN), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("%w: %s went away: %v", ErrTargetOffline, dir, err)
	}
	return err
}

// errSpaceUnknown: the filesystem reports no size (fusefat on some volumes).
var errSpaceUnknown = errors.New("filesystem reports no size")

func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Blocks == 0 {
		return 0, fmt.Errorf("statfs %s: %w", dir, errSpaceUnknown)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// staged is a verified-to-be file in a temp file next to its final name.
type staged struct {
	act      action
	tmp      string
	hash     Hash
	size     int64
	srcSize  int64
	srcMtime int64
}

// copier copies library files into temp files on the target. One copier
// belongs to one worker; it is not safe for concurrent use.
type copier struct {
	source      string
	buf         []byte
	perFileSync bool // fsync every file (FUSE targets, where syncfs does not reach the driver)
	maxFileSize int64
	hashed      *atomic.Int64
}

func newCopier(source string, perFileSync bool, maxFileSize int64, hashed *atomic.Int64) *copier {
	return &copier{source: source, buf: make([]byte, bufSize), perFileSync: perFileSync, maxFileSize: maxFileSize, hashed: hashed}
}

// stage copies the library file s into a new temp file in dstDir while
// hashing it, and sets its mtime. The library file is checked before and
// after the read: if it changed, the temp file is discarded and
// errSourceChanged returned; if fewer bytes came than its size says,
// errShortRead.
func (c *copier) stage(ctx context.Context, dstDir string, a action) (st staged, err error) {
	s := a.Src
	srcPath := filepath.Join(c.source, filepath.FromSlash(s.Rel))
	src, err := os.Open(srcPath)
	if err != nil {
		return st, fmt.Errorf("open %s: %w", s.Rel, err)
	}
	defer src.Close()
	before, err := src.Stat()
	if err != nil {
		return st, fmt.Errorf("stat %s: %w", s.Rel, err)
	}
	if !before.Mode().IsRegular() {
		return st, fmt.Errorf("%s is no longer a regular file: %w", s.Rel, errSourceChanged)
	}
	size := before.Size()
	if c.maxFileSize > 0 && size > c.maxFileSize {
		return st, &tooLargeError{size: size, max: c.maxFileSize}
	}
	if free, ferr := freeBytes(dstDir); ferr == nil && uint64(size)+freeReserve > free {
		return st, fmt.Errorf("%w: need %s for %s (%s, and %s kept free for romsyncd's manifests), have %s", ErrTargetFull,
			humanBytes(size+freeReserve), s.Rel, humanBytes(size), humanBytes(freeReserve), humanBytes(int64(free)))
	}
	adviseSequential(src)

	tmp, err := os.CreateTemp(dstDir, tempPrefix+"*"+tempSuffix)
	if err != nil {
		return st, classifyTargetErr(dstDir, &targetIOError{fmt.Errorf("create temp in %s: %w", dstDir, err)})
	}
	st.tmp = tmp.Name()
	// CreateTemp makes 0600 files; the copy gets the library file's
	// permissions (FAT-family cards have none and refuse: ignored).
	_ = tmp.Chmod(before.Mode().Perm())
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(st.tmp)
			st.tmp = ""
		}
	}()
	h := xxhash.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		m, rerr := src.Read(c.buf)
		if m > 0 {
			h.Write(c.buf[:m])
			if _, werr := tmp.Write(c.buf[:m]); werr != nil {
				if errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, syscall.EDQUOT) {
					// Another writer took the space after the check.
					have, _ := freeBytes(dstDir)
					return st, fmt.Errorf("%w: need %s more for %s, have %s free in %s: %w", ErrTargetFull,
						humanBytes(size-n), s.Rel, humanBytes(int64(have)), dstDir, werr)
				}
				return st, classifyTargetErr(dstDir, &targetIOError{werr})
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return st, fmt.Errorf("read %s at %d: %w", s.Rel, n, rerr)
		}
	}
	c.hashed.Add(n)
	dropCache(src)
	after, err := src.Stat()
	if err != nil {
		return st, fmt.Errorf("stat %s: %w", s.Rel, err)
	}
	now, perr := os.Stat(srcPath)
	if after.Size() != size || !after.ModTime().Equal(before.ModTime()) || perr != nil || !os.SameFile(after, now) ||
		beingWritten(src, after.ModTime()) {
		return st, fmt.Errorf("%s: %w", s.Rel, errSourceChanged)
	}
	if n != size {
		return st, fmt.Errorf("%s: %w: read %d of %d bytes", s.Rel, errShortRead, n, size)
	}
	mt := before.ModTime()
	if err := os.Chtimes(st.tmp, mt, mt); err != nil {
		return st, classifyTargetErr(dstDir, &targetIOError{fmt.Errorf("set mtime of %s: %w", st.tmp, err)})
	}
	if c.perFileSync {
		if err := tmp.Sync(); err != nil {
			return st, classifyTargetErr(dstDir, &targetIOError{fmt.Errorf("fsync %s: %w", st.tmp, err)})
		}
	}
	if err := tmp.Close(); err != nil {
		return st, classifyTargetErr(dstDir, &targetIOError{fmt.Errorf("close %s: %w", st.tmp, err)})
	}
	st.act = a
	st.hash = Hash(h.Sum64())
	st.size = n
	st.srcSize = size
	st.srcMtime = mt.UnixNano()
	return st, nil
}

// targetIOError marks a failure of the target side of a copy (the temp
// file on the card), as opposed to reading the library: it does not make
// the pass's reading of the library incomplete.
type targetIOError struct{ err error }

func (e *targetIOError) Error() string { return e.err.Error() }
func (e *targetIOError) Unwrap() error { return e.err }

type tooLargeError struct{ size, max int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("too large for the target filesystem (%s, at most %s)", humanBytes(e.size), humanBytes(e.max))
}

// flush makes the staged temp files durable: one syncfs for the batch on
// kernel filesystems (it also covers the pending record and the renames of
// earlier batches: synced is true), fsync per file where syncfs cannot be
// trusted.
func (c *copier) flush(dstDir string, batch []staged) (synced bool, err error) {
	if c.perFileSync || len(batch) == 0 {
		return false, nil // already fsynced by stage
	}
	d, err := os.Open(dstDir)
	if err != nil {
		return false, classifyTargetErr(dstDir, fmt.Errorf("open %s: %w", dstDir, err))
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err == nil {
		return true, nil
	}
	// syncfs failed (its error cannot be pinned on one file): fsync each.
	for _, s := range batch {
		if err := fsyncFile(s.tmp); err != nil {
			return false, classifyTargetErr(dstDir, err)
		}
	}
	return false, nil
}

func fsyncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", p, err)
	}
	return nil
}

// verify re-reads a durable temp file, its page cache dropped first so the
// read comes from the medium where the kernel allows it, and compares its
// hash with the one computed while reading the library file.
func (c *copier) verify(ctx context.Context, s staged, drop bool) error {
	f, err := os.Open(s.tmp)
	if err != nil {
		return fmt.Errorf("verify %s: %w", s.act.Name, err)
	}
	defer f.Close()
	if drop {
		dropCache(f)
		adviseWillNeed(f)
	}
	h := xxhash.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, rerr := f.Read(c.buf)
		if m > 0 {
			h.Write(c.buf[:m])
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("verify %s: read back: %w", s.act.Name, rerr)
		}
	}
	c.hashed.Add(n)
	dropCache(f)
	if got := Hash(h.Sum64()); got != s.hash || n != s.size {
		return fmt.Errorf("verify %s: %w: read %d bytes back with hash %s, wrote %d bytes with hash %s", s.act.Name, errVerify, n, got, s.size, s.hash)
	}
	return nil
}

var errVerify = errors.New("corrupted on the target")

// prefetchSources asks the kernel to start reading a batch's library
// files, so the reads of the copy loop overlap with the disk (or the NAS).
func (c *copier) prefetchSources(batch []action) {
	if len(batch) < 2 {
		return
	}
	for _, a := range batch {
		if f, err := os.Open(filepath.Join(c.source, filepath.FromSlash(a.Src.Rel))); err == nil {
			adviseWillNeed(f)
			f.Close()
		}
	}
}

// prefetchTemps drops the cached pages of a durable batch, so the verify
// reads come from the medium, and starts reading them all back at once.
func (c *copier) prefetchTemps(batch []staged) {
	for _, s := range batch {
		if f, err := os.Open(s.tmp); err == nil {
			dropCache(f)
			adviseWillNeed(f)
			f.Close()
		}
	}
}

// hashFile hashes a file's content (used to resolve an interrupted install
// and to adopt existing files).
func hashFile(p string, buf []byte, hashed *atomic.Int64) (Hash, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, fmt.Errorf("hash %s: %w", p, err)
	}
	defer f.Close()
	h := xxhash.New()
	n, err := io.CopyBuffer(h, onlyReader{f}, buf)
	hashed.Add(n)
	dropCache(f)
	if err != nil {
		return 0, n, fmt.Errorf("hash %s: %w", p, err)
	}
	return Hash(h.Sum64()), n, nil
}

// onlyReader hides WriterTo/ReaderFrom so CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

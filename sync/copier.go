package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/romsyncd/romsyncd/internal/bytesize"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
	"github.com/romsyncd/romsyncd/targetfs"
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

// staged is a verified-to-be file in a temp file next to its final name.
type staged struct {
	act      action
	tmp      string
	hash     cardstate.Hash
	size     int64
	srcSize  int64
	srcMtime int64
	// final and statErr: the file under its final name, once renamed.
	final   os.FileInfo
	statErr error
}

// copier copies library files into temp files on the target. One copier
// belongs to one worker; it is not safe for concurrent use.
type copier struct {
	source      string
	buf         []byte
	perFileSync bool // fsync every file (FUSE targets, where syncfs does not reach the driver)
	volumeSync  bool // one fsync flushes the whole volume (exfat-fuse): one per batch
	maxFileSize int64
	hashed      *atomic.Int64
	space       *space      // what the target has free, shared by a worker's helpers
	progress    func(int64) // bytes written to the card as they go; nil: nobody asked
	noChmod     bool        // the target keeps no permissions (FAT family)
	share       *shareMember
}

// space is the target's free space as a worker and its helpers see it:
// what statfs said, less what they wrote since.
type space struct {
	mu   stdsync.Mutex
	free int64 // -1: ask again
}

// forget makes the next reservation ask the filesystem.
func (sp *space) forget() {
	sp.mu.Lock()
	sp.free = -1
	sp.mu.Unlock()
}

// helper returns a copier for one of the worker's helpers (Options.Parallel):
// the same settings and free-space account, its own buffer.
func (c *copier) helper() *copier {
	h := *c
	h.buf = nil
	return &h
}

// buffer returns the copier's read buffer, allocated on first use: a
// no-op pass copies nothing and needs none.
func (c *copier) buffer() []byte {
	if c.buf == nil {
		c.buf = make([]byte, bufSize)
	}
	return c.buf
}

func newCopier(source string, perFileSync bool, maxFileSize int64, hashed *atomic.Int64) *copier {
	return &copier{source: source, perFileSync: perFileSync, maxFileSize: maxFileSize, hashed: hashed, space: &space{free: -1}}
}

// stage copies the library file s into a new temp file in dstDir while
// hashing it, and sets its mtime. The library file is checked before and
// after the read: if it changed, the temp file is discarded and
// errSourceChanged returned; if fewer bytes came than its size says,
// errShortRead. It is one file's life from open to close, with the checks
// around the copy in the order they must run; kept whole for that.
func (c *copier) stage(ctx context.Context, dstDir string, a action) (st staged, err error) {
	if a.Src.Member != "" {
		return c.stageZip(ctx, dstDir, a)
	}
	s := a.Src
	if s.Content != nil {
		return c.stageContent(ctx, dstDir, a) // a generated playlist
	}
	srcPath := filepath.Join(c.source, filepath.FromSlash(s.Rel))
	// Raw descriptors: a regular file gains nothing from Go's poller, and a
	// small-file mirror is a syscall count.
	src, err := openRead(srcPath)
	if err != nil {
		return st, fmt.Errorf("open %s: %w", s.Rel, err)
	}
	defer unix.Close(src)
	var before unix.Stat_t
	if err := unix.Fstat(src, &before); err != nil {
		return st, fmt.Errorf("stat %s: %w", s.Rel, err)
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return st, fmt.Errorf("%s is no longer a regular file: %w", s.Rel, errSourceChanged)
	}
	size := before.Size
	if c.maxFileSize > 0 && size > c.maxFileSize {
		return st, &tooLargeError{size: size, max: c.maxFileSize}
	}
	if err := c.reserve(dstDir, s.Rel, size); err != nil {
		return st, err
	}
	if size > bufSize {
		_ = unix.Fadvise(src, 0, 0, unix.FADV_SEQUENTIAL)
	}

	tmp, err := c.openTemp(dstDir, uint32(before.Mode&0o777))
	if err != nil {
		return st, err
	}
	st.tmp = tmp.path
	defer func() {
		if err != nil {
			tmp.discard()
			st.tmp = ""
		}
	}()
	hash, n, err := c.copyData(ctx, src, tmp, s.Rel, size)
	if err != nil {
		return st, err
	}
	c.hashed.Add(n)
	c.share.read(s, src) // drops the file's cached pages, unless another card still needs them
	if err := unchanged(src, srcPath, s.Rel, &before); err != nil {
		return st, err
	}
	mt := time.Unix(before.Mtim.Unix())
	if n != size {
		return st, fmt.Errorf("%s: %w: read %d of %d bytes", s.Rel, errShortRead, n, size)
	}
	if err := tmp.finish(before.Mtim, c.perFileSync); err != nil {
		return st, err
	}
	st.act = a
	st.hash = hash
	st.size = n
	st.srcSize = size
	st.srcMtime = mt.UnixNano()
	return st, nil
}

// unchanged checks, once a library file is read, that it is the version
// stat-ed before the read (before): same size and mtime, still at its path,
// nobody writing it. Otherwise the read may mix versions: errSourceChanged.
func unchanged(fd int, path, rel string, before *unix.Stat_t) error {
	var after, now unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	perr := unix.Stat(path, &now)
	if after.Size != before.Size || after.Mtim != before.Mtim || perr != nil || now.Ino != after.Ino || now.Dev != after.Dev ||
		beingWritten(fd, time.Unix(before.Mtim.Unix())) {
		return fmt.Errorf("%s: %w", rel, errSourceChanged)
	}
	return nil
}

// copyData copies the open library file src into the temp file tmp while
// hashing it, and returns the hash and the bytes copied. A target that
// runs out of room is ErrTargetFull.
func (c *copier) copyData(ctx context.Context, src int, tmp *tempFile, rel string, size int64) (cardstate.Hash, int64, error) {
	h := xxhash.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, n, err
		}
		m, rerr := readFull(src, c.buffer())
		if m > 0 {
			h.Write(c.buf[:m])
			if err := tmp.write(c.buf[:m], rel, size-n); err != nil {
				return 0, n, err
			}
			n += int64(m)
			if c.progress != nil {
				c.progress(int64(m))
			}
		}
		if rerr != nil {
			return 0, n, fmt.Errorf("read %s at %d: %w", rel, n, rerr)
		}
		if m < len(c.buf) {
			return cardstate.Hash(h.Sum64()), n, nil // end of file
		}
	}
}

// reserve checks that the target has room for size more bytes (plus a
// reserve for the manifests). It asks the filesystem once per batch and
// counts what the batch writes in between.
func (c *copier) reserve(dstDir, rel string, size int64) error {
	sp := c.space
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.free < 0 || uint64(size)+freeReserve > uint64(sp.free) {
		free, err := targetfs.Free(dstDir)
		if err != nil {
			sp.free = -1
			return nil // the filesystem does not say (fusefat): ENOSPC will
		}
		sp.free = int64(free)
	}
	if uint64(size)+freeReserve > uint64(sp.free) {
		return fmt.Errorf("%w: need %s for %s (%s, and %s kept free for romsyncd's manifests), have %s", outcome.ErrTargetFull,
			bytesize.Format(size+freeReserve), rel, bytesize.Format(size), bytesize.Format(freeReserve), bytesize.Format(sp.free))
	}
	sp.free -= size
	return nil
}

// openRead opens a file for reading without updating its access time
// where the kernel allows it (a NAS library need not be written to).
func openRead(p string) (int, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		fd, err = unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

// createTemp creates a new temp file (dot-prefixed: no frontend lists it)
// in dir with the given permissions.
func createTemp(dir string, perm uint32, chmod bool) (string, int, error) {
	for try := 0; ; try++ {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		p := filepath.Join(dir, cardstate.TempPrefix+hex.EncodeToString(rnd[:])+cardstate.TempSuffix)
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, perm)
		if err == nil {
			// The umask may have narrowed perm; FAT-family cards refuse
			// permissions altogether (ignored, or not asked: noChmod).
			if chmod {
				_ = unix.Fchmod(fd, perm)
			}
			return p, fd, nil
		}
		if !errors.Is(err, unix.EEXIST) || try > 10 {
			return "", -1, &os.PathError{Op: "create", Path: p, Err: err}
		}
	}
}

// readFull reads until buf is full or the file ends; a short count without
// error means end of file.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func writeAll(fd int, buf []byte) error {
	for len(buf) > 0 {
		m, err := unix.Write(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		buf = buf[m:]
	}
	return nil
}

// flush makes the staged temp files durable: one syncfs for the batch on
// kernel filesystems (it also covers the pending record and the renames of
// earlier batches: synced is true), fsync per file where syncfs cannot be
// trusted.
func (c *copier) flush(dstDir string, batch []staged) (synced bool, err error) {
	if len(batch) == 0 {
		return false, nil
	}
	if c.volumeSync {
		// exfat-fuse writes out its whole volume on any fsync: one for the
		// batch makes every temp file and the pending record durable.
		if err := fsyncFile(batch[len(batch)-1].tmp); err != nil {
			return false, outcome.OfTarget(dstDir, err)
		}
		return true, nil
	}
	if c.perFileSync {
		return false, nil // already fsynced by stage
	}
	d, err := os.Open(dstDir)
	if err != nil {
		return false, outcome.OfTarget(dstDir, fmt.Errorf("open %s: %w", dstDir, err))
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err == nil {
		return true, nil
	}
	// syncfs failed (its error cannot be pinned on one file): fsync each.
	for _, s := range batch {
		if err := fsyncFile(s.tmp); err != nil {
			return false, outcome.OfTarget(dstDir, err)
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
	f, err := openRead(s.tmp)
	if err != nil {
		return fmt.Errorf("verify %s: %w", s.act.Name, err)
	}
	defer unix.Close(f)
	if drop {
		_ = unix.Fadvise(f, 0, 0, unix.FADV_DONTNEED)
		_ = unix.Fadvise(f, 0, 0, unix.FADV_WILLNEED)
	}
	h := xxhash.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, rerr := readFull(f, c.buffer())
		if m > 0 {
			h.Write(c.buf[:m])
			n += int64(m)
		}
		if rerr != nil {
			return fmt.Errorf("verify %s: read back: %w", s.act.Name, rerr)
		}
		if m < len(c.buf) {
			break
		}
	}
	c.hashed.Add(n)
	_ = unix.Fadvise(f, 0, 0, unix.FADV_DONTNEED)
	if got := cardstate.Hash(h.Sum64()); got != s.hash || n != s.size {
		return fmt.Errorf("verify %s: %w: read %d bytes back with hash %s, wrote %d bytes with hash %s", s.act.Name, errVerify, n, got, s.size, s.hash)
	}
	return nil
}

// prefetchSources asks the kernel to start reading a batch's library
// files, so the reads of the copy loop overlap with the disk (or the NAS).
func (c *copier) prefetchSources(batch []action) {
	if len(batch) < 2 {
		return
	}
	for _, a := range batch {
		if fd, err := openRead(filepath.Join(c.source, filepath.FromSlash(a.Src.Rel))); err == nil {
			_ = unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
			unix.Close(fd)
		}
	}
}

// prefetchTemps drops the cached pages of a durable batch, so the verify
// reads come from the medium, and starts reading them all back at once.
func (c *copier) prefetchTemps(batch []staged) {
	for _, s := range batch {
		if fd, err := openRead(s.tmp); err == nil {
			_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
			_ = unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
			unix.Close(fd)
		}
	}
}

// hashFile hashes a file's content (used to resolve an interrupted install
// and to adopt existing files).
func hashFile(p string, buf []byte, hashed *atomic.Int64) (cardstate.Hash, int64, error) {
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
	return cardstate.Hash(h.Sum64()), n, nil
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

package faultfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// handle is an open file: go-fuse's loopback file with the data path
// overridden to inject faults.
type handle struct {
	*fs.LoopbackFile
	node     *node
	writable bool // opened with O_WRONLY or O_RDWR
}

var (
	_ fs.FileReader          = (*handle)(nil)
	_ fs.FileWriter          = (*handle)(nil)
	_ fs.FileWritever        = (*handle)(nil)
	_ fs.FileFsyncer         = (*handle)(nil)
	_ fs.FileFlusher         = (*handle)(nil)
	_ fs.FilePassthroughFder = (*handle)(nil)
)

// wrapHandle wraps the loopback file go-fuse opened for n. A handle of any
// other type is released and refused: it could not be faulted.
func wrapHandle(ctx context.Context, n *node, fh fs.FileHandle, openFlags uint32) (*handle, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		if r, ok := fh.(fs.FileReleaser); ok {
			r.Release(ctx)
		}
		n.fsys.logf("faultfs: open %s: go-fuse returned a %T, not a *fs.LoopbackFile", n.rel(), fh)
		return nil, syscall.EIO
	}
	return &handle{
		LoopbackFile: lf,
		node:         n,
		writable:     openFlags&syscall.O_ACCMODE != syscall.O_RDONLY,
	}, 0
}

// PassthroughFd refuses FUSE passthrough, which go-fuse otherwise registers
// for every loopback file when running as root. With a backing file the
// kernel serves the file itself wherever direct I/O does not take precedence
// (mmap today), and those accesses would bypass every fault.
func (h *handle) PassthroughFd() (int, bool) {
	return -1, false
}

// Read reads from the backing file, then applies the faults of the file.
func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	fsys := h.node.fsys
	rel := h.node.rel()
	r, ok := fsys.lookup(rel)
	if !ok {
		return h.LoopbackFile.Read(ctx, buf, off)
	}
	fault := r.fault
	p := fault.Probability

	if fault.ReadDelay > 0 && fsys.inject(rel, KindDelay, p) {
		if errno := fsys.sleep(ctx, fault.ReadDelay); errno != 0 {
			return nil, errno
		}
	}

	res, errno := h.LoopbackFile.Read(ctx, buf, off)
	if errno != 0 {
		return nil, errno
	}
	data, status := res.Bytes(buf)
	res.Done()
	if !status.Ok() {
		return nil, syscall.Errno(status)
	}
	end := off + int64(len(data))

	if x := fault.EIOAtOffset; x >= 0 && off <= x && x < end && fsys.inject(rel, KindEIO, p) {
		return nil, syscall.EIO
	}
	if x := fault.EarlyEOF; x >= 0 && end > x && len(data) > 0 && fsys.inject(rel, KindEOF, p) {
		data = data[:max(x-off, 0)]
	}
	if limit := max(len(buf)/2, 1); fault.ShortReads && len(data) > limit && fsys.inject(rel, KindShort, p) {
		data = data[:limit]
	}
	if fault.ChangeWhileRead && fsys.claimChange(r, rel) {
		if err := fsys.changeBacking(rel); err != nil {
			fsys.logf("faultfs: %v", err)
		}
	}
	return fuse.ReadResultData(data), 0
}

// Write applies the write faults of the file, then writes.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.writeFault(off, int64(len(data))); errno != 0 {
		return 0, errno
	}
	return h.LoopbackFile.Write(ctx, data, off)
}

// Writev is Write for scattered data.
func (h *handle) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var n int64
	for _, d := range data {
		n += int64(len(d))
	}
	if errno := h.writeFault(off, n); errno != 0 {
		return 0, errno
	}
	return h.LoopbackFile.Writev(ctx, data, off)
}

func (h *handle) writeFault(off, n int64) syscall.Errno {
	fsys := h.node.fsys
	rel := h.node.rel()
	r, ok := fsys.lookup(rel)
	if !ok {
		return 0
	}
	fault := r.fault
	p := fault.Probability
	switch {
	case fault.WriteENOSPC && fsys.inject(rel, KindENOSPC, p):
		return syscall.ENOSPC
	case fault.WriteEIO && fsys.inject(rel, KindWriteEIO, p):
		return syscall.EIO
	case fault.EIOAtOffset >= 0 && off <= fault.EIOAtOffset && fault.EIOAtOffset < off+n && fsys.inject(rel, KindEIO, p):
		return syscall.EIO
	}
	return 0
}

// Fsync fails with EIO under FsyncEIO, and syncs the backing file otherwise.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if h.node.fsys.fsyncFault(h.node.rel()) {
		return syscall.EIO
	}
	return h.LoopbackFile.Fsync(ctx, flags)
}

// Flush runs on every close(2). Under FsyncEIO it makes the close of a
// handle opened for writing fail with EIO, as NFS reports lost writes.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	errno := h.LoopbackFile.Flush(ctx)
	if errno == 0 && h.writable && h.node.fsys.fsyncFault(h.node.rel()) {
		return syscall.EIO
	}
	return errno
}

// fsyncFault reports whether an fsync or flush of rel must fail.
func (f *FS) fsyncFault(rel string) bool {
	r, ok := f.lookup(rel)
	return ok && r.fault.FsyncEIO && f.inject(rel, KindFsyncEIO, r.fault.Probability)
}

// sleep waits for d, or until the request is interrupted or the filesystem
// is unmounted; then it returns EINTR, as go-fuse asks of interrupted ops.
func (f *FS) sleep(ctx context.Context, d time.Duration) syscall.Errno {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-ctx.Done():
		return syscall.EINTR
	case <-f.stop:
		return syscall.EINTR
	}
}

// changeBacking appends changeMarker to the backing file of rel and moves its
// mtime to now, and at least one second past the old mtime so that a check
// at FAT's coarse granularity sees the change too.
func (f *FS) changeBacking(rel string) error {
	p := filepath.Join(f.backing, filepath.FromSlash(rel))
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fmt.Errorf("change %s: %w", p, err)
	}
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("change %s: %w", p, err)
	}
	_, err = w.WriteString(changeMarker)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("change %s: %w", p, err)
	}
	mtime := time.Now()
	if least := time.Unix(st.Mtim.Unix()).Add(time.Second); mtime.Before(least) {
		mtime = least
	}
	times := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, times, 0); err != nil {
		return fmt.Errorf("change %s: set mtime: %w", p, err)
	}
	return nil
}

// dirStream is what go-fuse's loopback directory handle implements and the
// bridge uses.
type dirStream interface {
	fs.FileReaddirenter
	fs.FileSeekdirer
	fs.FileReleasedirer
	fs.FileFsyncdirer
}

// dirHandle is an open directory whose fsync can fail.
type dirHandle struct {
	dirStream
	node *node
}

// Fsyncdir fails with EIO under FsyncEIO, and syncs the backing folder otherwise.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if d.node.fsys.fsyncFault(d.node.rel()) {
		return syscall.EIO
	}
	return d.dirStream.Fsyncdir(ctx, flags)
}

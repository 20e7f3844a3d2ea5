package powerfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// handle is an open file: go-fuse's loopback file with the operations that
// change or sync data overridden. A handle belongs to the epoch it was
// opened in: after a cut, its changes and syncs fail with EIO.
type handle struct {
	*fs.LoopbackFile
	fsys  *FS
	fd    int // the loopback file's descriptor, owned by it
	epoch uint64
}

var (
	_ fs.FileWriter          = (*handle)(nil)
	_ fs.FileWritever        = (*handle)(nil)
	_ fs.FileFsyncer         = (*handle)(nil)
	_ fs.FileAllocater       = (*handle)(nil)
	_ fs.FilePassthroughFder = (*handle)(nil)
)

// newHandle wraps the loopback file go-fuse opened. A handle of any other
// type is released and refused: its writes could not be tracked.
func newHandle(ctx context.Context, fsys *FS, fh fs.FileHandle) (*handle, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	var fd int
	if ok {
		fd, ok = lf.PassthroughFd() // the descriptor, valid until Release
	}
	if !ok {
		if r, ok := fh.(fs.FileReleaser); ok {
			r.Release(ctx)
		}
		fsys.logf("powerfs: open: go-fuse returned a %T, not a *fs.LoopbackFile", fh)
		return nil, syscall.EIO
	}
	return &handle{LoopbackFile: lf, fsys: fsys, fd: fd, epoch: fsys.epoch.Load()}, 0
}

// live fails with EIO when a cut came after the handle was opened.
func (h *handle) live() syscall.Errno {
	if h.epoch != h.fsys.epoch.Load() {
		return syscall.EIO
	}
	return 0
}

// PassthroughFd refuses FUSE passthrough, which go-fuse otherwise registers
// for every loopback file when running as root: the kernel would then write
// the backing file itself, behind the layer's back.
func (h *handle) PassthroughFd() (int, bool) {
	return -1, false
}

// Write writes through to the medium after keeping the file's durable image.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (written uint32, errno syscall.Errno) {
	h.fsys.cut.RLock()
	defer h.fsys.cut.RUnlock()
	if errno := h.live(); errno != 0 {
		return 0, errno
	}
	errno = h.fsys.change(h.fd, func() syscall.Errno {
		var e syscall.Errno
		written, e = h.LoopbackFile.Write(ctx, data, off)
		return e
	})
	return written, errno
}

// Writev is Write for scattered data.
func (h *handle) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return h.Write(ctx, all, off)
}

// Allocate (fallocate) changes data: the image is kept first.
func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	h.fsys.cut.RLock()
	defer h.fsys.cut.RUnlock()
	if errno := h.live(); errno != 0 {
		return errno
	}
	return h.fsys.change(h.fd, func() syscall.Errno {
		return h.LoopbackFile.Allocate(ctx, off, size, mode)
	})
}

// Fsync (and fdatasync) makes every change of the file's data durable.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	h.fsys.cut.RLock()
	defer h.fsys.cut.RUnlock()
	if errno := h.live(); errno != 0 {
		return errno
	}
	if errno := h.LoopbackFile.Fsync(ctx, flags); errno != 0 {
		return errno
	}
	return h.fsys.synced(h.fd)
}

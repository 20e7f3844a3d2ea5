package powerfs

import (
	"context"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a file or directory: go-fuse's loopback node with the operations
// that open files or change their size overridden. Every metadata operation
// (rename, mkdir, unlink, rmdir, link, readdir, utimens, ...) is the
// loopback's own and reaches the medium at once.
type node struct {
	*fs.LoopbackNode
	fsys *FS
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
)

// WrapChild makes every node go-fuse creates below the root a power-loss one.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: ln, fsys: n.fsys}
	}
	return ops
}

// backingPath is the node's path in the backing folder.
func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, filepath.FromSlash(n.Path(nil)))
}

// Open opens the backing file; an O_TRUNC open truncates only after the
// durable image is kept.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.fsys.cut.RLock()
	defer n.fsys.cut.RUnlock()
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags&^syscall.O_TRUNC)
	if errno != 0 {
		return nil, 0, errno
	}
	h, errno := n.wrap(ctx, fh, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return h, fuseFlags | fuse.FOPEN_DIRECT_IO, 0
}

// Create creates the file (a metadata operation: durable at once, empty).
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.fsys.cut.RLock()
	defer n.fsys.cut.RUnlock()
	ch, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags&^syscall.O_TRUNC, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.wrapCreated(ctx, ch, fh, flags, fuseFlags, out)
}

// Tmpfile is Create for an O_TMPFILE file.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.fsys.cut.RLock()
	defer n.fsys.cut.RUnlock()
	ch, fh, fuseFlags, errno := n.LoopbackNode.Tmpfile(ctx, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.wrapCreated(ctx, ch, fh, flags, fuseFlags, out)
}

func (n *node) wrapCreated(ctx context.Context, ch *fs.Inode, fh fs.FileHandle, flags, fuseFlags uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	h, errno := n.wrap(ctx, fh, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if flags&syscall.O_TRUNC != 0 {
		// O_CREAT|O_TRUNC met an existing file: report the size now.
		var st unix.Stat_t
		if err := unix.Fstat(h.fd, &st); err == nil {
			out.Size = uint64(st.Size)
		}
	}
	return ch, h, fuseFlags | fuse.FOPEN_DIRECT_IO, 0
}

// wrap turns go-fuse's loopback file into a handle of the current epoch,
// and applies O_TRUNC as a change of data. The caller holds fsys.cut shared.
func (n *node) wrap(ctx context.Context, fh fs.FileHandle, flags uint32) (*handle, syscall.Errno) {
	h, errno := newHandle(ctx, n.fsys, fh)
	if errno != 0 {
		return nil, errno
	}
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		errno := n.fsys.change(h.fd, func() syscall.Errno {
			return errnoOf(unix.Ftruncate(h.fd, 0))
		})
		if errno != 0 {
			h.Release(ctx)
			return nil, errno
		}
	}
	return h, 0
}

// Setattr treats a change of size as a change of data; the rest is metadata.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	size, ok := in.GetSize()
	if !ok {
		return n.LoopbackNode.Setattr(ctx, f, in, out)
	}
	n.fsys.cut.RLock()
	defer n.fsys.cut.RUnlock()
	fd := -1
	if h, ok := f.(*handle); ok && h != nil {
		if errno := h.live(); errno != 0 {
			return errno
		}
		fd = h.fd
	} else {
		var err error
		fd, err = unix.Open(n.backingPath(), unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
	}
	errno := n.fsys.change(fd, func() syscall.Errno {
		return errnoOf(unix.Ftruncate(fd, int64(size)))
	})
	if errno != 0 {
		return errno
	}
	// The size is set; the loopback applies the rest (mode, times).
	rest := *in
	rest.Valid &^= fuse.FATTR_SIZE
	return n.LoopbackNode.Setattr(ctx, f, &rest, out)
}

// CopyFileRange is refused, so that the kernel copies through READ and WRITE
// requests, which the layer tracks.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

package faultfs

import (
	"context"
	"path"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a file or directory: go-fuse's loopback node with the operations
// that open files or report sizes overridden. Every other operation (rename,
// readdir, mkdir, unlink, utimens, ...) is the loopback's own.
type node struct {
	*fs.LoopbackNode
	fsys *FS
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeStatxer        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	// Passed through from the loopback.
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
)

// rel returns the node's path relative to the root of the mount, as rules
// are keyed.
func (n *node) rel() string {
	return n.Path(nil)
}

// WrapChild makes every node go-fuse creates below the root a faulting one.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: ln, fsys: n.fsys}
	}
	return ops
}

// Lookup reports StatSize in the attributes it returns with the entry.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Lookup(ctx, name, out)
	if errno == 0 {
		n.fsys.fakeSize(path.Join(n.rel(), name), &out.Attr)
	}
	return ch, errno
}

// Getattr reports StatSize.
func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	errno := n.LoopbackNode.Getattr(ctx, f, out)
	if errno == 0 {
		n.fsys.fakeSize(n.rel(), &out.Attr)
	}
	return errno
}

// Setattr reports StatSize in the attributes it returns.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	errno := n.LoopbackNode.Setattr(ctx, f, in, out)
	if errno == 0 {
		n.fsys.fakeSize(n.rel(), &out.Attr)
	}
	return errno
}

// Statx reports StatSize.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	errno := n.LoopbackNode.Statx(ctx, f, flags, mask, out)
	if errno == 0 && uint32(out.Mode)&syscall.S_IFMT == syscall.S_IFREG {
		if size, ok := n.fsys.statSize(n.rel(), out.Size); ok {
			out.Size = size
		}
	}
	return errno
}

// Open wraps the loopback file in a faulting handle and asks the kernel for
// direct I/O, so that every read and write reaches the handle.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	h, errno := wrapHandle(ctx, n, fh, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return h, fuseFlags | fuse.FOPEN_DIRECT_IO, 0
}

// Create is Open for a new file.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.wrapCreated(ctx, ch, fh, flags, fuseFlags, out)
}

// Tmpfile is Open for an O_TMPFILE file.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, fuseFlags, errno := n.LoopbackNode.Tmpfile(ctx, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.wrapCreated(ctx, ch, fh, flags, fuseFlags, out)
}

func (n *node) wrapCreated(ctx context.Context, ch *fs.Inode, fh fs.FileHandle, flags, fuseFlags uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	child, ok := ch.Operations().(*node)
	if !ok {
		if r, ok := fh.(fs.FileReleaser); ok {
			r.Release(ctx)
		}
		n.fsys.logf("faultfs: create in %q: child node is a %T", n.rel(), ch.Operations())
		return nil, nil, 0, syscall.EIO
	}
	h, errno := wrapHandle(ctx, child, fh, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	n.fsys.fakeSize(child.rel(), &out.Attr)
	return ch, h, fuseFlags | fuse.FOPEN_DIRECT_IO, 0
}

// OpendirHandle wraps the directory handle so that its fsync can fail.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	ds, ok := fh.(dirStream)
	if !ok {
		if r, ok := fh.(fs.FileReleasedirer); ok {
			r.Releasedir(ctx, 0)
		}
		n.fsys.logf("faultfs: opendir %q: go-fuse returned a %T", n.rel(), fh)
		return nil, 0, syscall.EIO
	}
	return &dirHandle{dirStream: ds, node: n}, fuseFlags, 0
}

// CopyFileRange is refused, so that the kernel copies through READ and WRITE
// requests, where the faults are.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// fakeSize puts StatSize into attr if a rule for rel asks for it.
func (f *FS) fakeSize(rel string, attr *fuse.Attr) {
	if attr.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return
	}
	if size, ok := f.statSize(rel, attr.Size); ok {
		attr.Size = size
	}
}

// statSize returns the size to report for the regular file rel, whose real
// size is real, if a StatSize fault applies.
func (f *FS) statSize(rel string, real uint64) (uint64, bool) {
	r, ok := f.lookup(rel)
	if !ok || r.fault.StatSize < 0 || uint64(r.fault.StatSize) == real {
		return 0, false
	}
	if !f.inject(rel, KindStatSize, r.fault.Probability) {
		return 0, false
	}
	return uint64(r.fault.StatSize), true
}

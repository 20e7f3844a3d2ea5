// Package powerfs is a FUSE loopback filesystem that loses what was not made durable, for power-cut tests.
//
// It serves a backing folder, the "medium", the way LazyFS does for C++
// projects: file data written through the mount is lost on a simulated power
// cut ([FS.Cut]) unless an fsync or fdatasync of that file came after it,
// while every metadata operation is durable at once.
//
// What is durable when:
//
//   - Data (write, truncate, ftruncate, an open with O_TRUNC, fallocate):
//     only after an fsync or fdatasync of the same file (any handle of its
//     inode). A file created, written and renamed into place without an
//     fsync is therefore 0 bytes under its final name after a cut, exactly
//     the classic failure of real cards and ext4 without auto_da_alloc.
//   - Metadata (create, mkdir, rename, unlink, rmdir, link, symlink, chmod,
//     utimens): durable when the call returns; the folder's fsync is a no-op
//     for the model. The layer does not test the ordering of folder
//     entries: it is the worst case for data, not for names.
//   - [FS.Writeback] makes everything durable, as the kernel's writeback
//     does some seconds after a write, or a clean unmount: tests call it to
//     confine a cut to what one run wrote.
//   - syncfs(2) and sync(2) do not reach a FUSE daemon (the kernel sends
//     FUSE_SYNCFS to virtiofs only), so they make nothing durable here, as on
//     exfat-fuse and fusefat. A program must fsync each file on a FUSE target.
//
// How: writes go through to the backing file at once, so reads, sizes and
// listings are plain loopback; before the first change of a file's data
// since its last fsync, the layer keeps an undo image of the file's content
// (what the medium holds) and a descriptor of its inode. An fsync drops the
// image; [FS.Cut] writes every image back into its inode, wherever the inode
// was renamed to, and invalidates every handle opened before the cut (their
// writes and fsyncs fail with EIO: after a power cut no old descriptor
// exists). The mount keeps serving, with no kernel caching of data, entries
// or attributes, so the next reader sees the card as it is after the cut.
//
// The mount's type in /proc/self/mountinfo is "fuse.romsyncd-powerfs": to
// romsyncd (targetfs) a FUSE filesystem that is neither exfat-fuse nor a
// network filesystem, so it takes the per-file fsync path (PerFileSync on,
// VolumeSync off).
package powerfs

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/romsyncd/romsyncd/internal/fusemount"
	"golang.org/x/sys/unix"
)

// Name is the FUSE subtype of the mount: mountinfo lists "fuse." + Name.
const Name = "romsyncd-powerfs"

// Options configure a mount.
type Options struct {
	// Debug logs every FUSE request and reply to the test log.
	Debug bool
}

// FS is a mounted power-loss loopback of a backing folder.
type FS struct {
	dir     string // mount point
	backing string // absolute path of the backing folder
	logf    func(format string, args ...any)

	srv *fusemount.Server

	// cut is held shared by every operation that changes or syncs data
	// and exclusively by Cut, so that a cut falls between operations.
	cut   sync.RWMutex
	epoch atomic.Uint64 // number of cuts so far; handles remember theirs

	mu    sync.Mutex
	files map[fileID]*file // data state of inodes touched since the last cut

	writes, fsyncs, reverted atomic.Int64
}

// fileID names an inode of the backing filesystem.
type fileID struct{ dev, ino uint64 }

// file is the data state of one inode. While dirty, fd is a descriptor of
// the inode (so that it outlives renames and unlinks) and durable is what
// the medium holds.
type file struct {
	// mu is held shared by changes of the data and exclusively by fsync:
	// an fsync covers every change that completed before it.
	mu sync.RWMutex
	// imageMu guards fd and durable while changes hold mu shared.
	imageMu sync.Mutex
	fd      int // -1 while clean
	durable []byte
}

// Dir returns the mount point.
func (f *FS) Dir() string {
	return f.dir
}

// Backing returns the backing folder: the medium as it is.
func (f *FS) Backing() string {
	return f.backing
}

// Stats counts what went through the layer.
type Stats struct {
	Writes   int64 // writes, truncations and allocations of file data
	Fsyncs   int64 // fsyncs and fdatasyncs of files
	Cuts     int64 // power cuts
	Reverted int64 // files whose data a cut took back, over all cuts
	Dirty    int   // files with data that is not durable now
}

// Stats returns the counters.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	dirty := 0
	for _, fl := range f.files {
		fl.imageMu.Lock()
		if fl.fd >= 0 {
			dirty++
		}
		fl.imageMu.Unlock()
	}
	f.mu.Unlock()
	return Stats{
		Writes:   f.writes.Load(),
		Fsyncs:   f.fsyncs.Load(),
		Cuts:     int64(f.epoch.Load()),
		Reverted: f.reverted.Load(),
		Dirty:    dirty,
	}
}

// Reverted is one file a cut took back to its durable content.
type Reverted struct {
	Path     string // in the backing folder, or "(deleted)" for an unlinked inode
	Size     int64  // the size it had before the cut
	Durable  int64  // the size it has after
	Unlinked bool
}

func (r Reverted) String() string {
	return fmt.Sprintf("%s: %d B -> %d B", r.Path, r.Size, r.Durable)
}

// Cut simulates a power cut: every file whose data changed since its last
// fsync gets back the content it had then (a file never fsynced since it was
// created is empty), and every handle opened before the cut stops working.
// The mount keeps serving the state after the cut. Kill the processes that
// write to the mount before cutting (their writes would fail with EIO from
// now on anyway). Cut returns the files it reverted, sorted by path.
func (f *FS) Cut() ([]Reverted, error) {
	f.cut.Lock()
	defer f.cut.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Reverted
	var firstErr error
	for _, fl := range f.files {
		if fl.fd < 0 {
			continue
		}
		r, err := fl.revert()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		out = append(out, r)
	}
	f.files = make(map[fileID]*file)
	f.epoch.Add(1)
	f.reverted.Add(int64(len(out)))
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, firstErr
}

// Writeback makes every file's data durable, as the kernel's writeback does
// some seconds after a write, or a clean unmount: what was written before is
// safe from the next cut. It returns how many files had data not yet
// durable.
func (f *FS) Writeback() int {
	f.cut.Lock()
	defer f.cut.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, fl := range f.files {
		if fl.fd >= 0 {
			unix.Close(fl.fd)
			fl.fd, fl.durable = -1, nil
			n++
		}
	}
	f.files = make(map[fileID]*file)
	return n
}

// revert writes the durable image back into the inode and makes the file
// clean. The caller holds the FS exclusively.
func (fl *file) revert() (Reverted, error) {
	r := Reverted{Path: "(deleted)", Durable: int64(len(fl.durable))}
	defer func() {
		unix.Close(fl.fd)
		fl.fd, fl.durable = -1, nil
	}()
	var st unix.Stat_t
	if err := unix.Fstat(fl.fd, &st); err == nil {
		r.Size = st.Size
		r.Unlinked = st.Nlink == 0
	}
	if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fl.fd)); err == nil && !r.Unlinked {
		r.Path = p
	}
	if err := unix.Ftruncate(fl.fd, 0); err != nil {
		return r, fmt.Errorf("cut: truncate %s: %w", r.Path, err)
	}
	for off := 0; off < len(fl.durable); {
		n, err := unix.Pwrite(fl.fd, fl.durable[off:], int64(off))
		if err != nil {
			return r, fmt.Errorf("cut: restore %s: %w", r.Path, err)
		}
		off += n
	}
	return r, nil
}

// fileOf returns the state of the inode open as fd.
func (f *FS) fileOf(fd int) (*file, syscall.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, errnoOf(err)
	}
	id := fileID{dev: st.Dev, ino: st.Ino}
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.files[id]
	if !ok {
		fl = &file{fd: -1}
		f.files[id] = fl
	}
	return fl, 0
}

// change runs fn, which changes the data of the inode open as fd, after
// keeping the inode's durable image if it has none. The caller holds f.cut
// shared.
func (f *FS) change(fd int, fn func() syscall.Errno) syscall.Errno {
	fl, errno := f.fileOf(fd)
	if errno != 0 {
		return errno
	}
	fl.mu.RLock()
	defer fl.mu.RUnlock()
	if errno := fl.keepImage(fd); errno != 0 {
		return errno
	}
	f.writes.Add(1)
	return fn()
}

// keepImage records what the medium holds for the inode open as fd, unless
// an image is already kept: the content before its first change since the
// last fsync.
func (fl *file) keepImage(fd int) syscall.Errno {
	fl.imageMu.Lock()
	defer fl.imageMu.Unlock()
	if fl.fd >= 0 {
		return 0
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	data := make([]byte, st.Size)
	for off := 0; off < len(data); {
		n, err := unix.Pread(fd, data[off:], int64(off))
		if err != nil {
			return errnoOf(err)
		}
		if n == 0 {
			data = data[:off]
			break
		}
		off += n
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return errnoOf(err)
	}
	fl.fd, fl.durable = dup, data
	return 0
}

// synced makes the data of the inode open as fd durable: its image is
// dropped after every change in flight has completed. The caller holds f.cut
// shared.
func (f *FS) synced(fd int) syscall.Errno {
	fl, errno := f.fileOf(fd)
	if errno != 0 {
		return errno
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.imageMu.Lock()
	defer fl.imageMu.Unlock()
	f.fsyncs.Add(1)
	if fl.fd >= 0 {
		unix.Close(fl.fd)
		fl.fd, fl.durable = -1, nil
	}
	return 0
}

// closeAll releases the descriptors of dirty files (at unmount).
func (f *FS) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.files {
		if fl.fd >= 0 {
			unix.Close(fl.fd)
			fl.fd, fl.durable = -1, nil
		}
	}
	f.files = make(map[fileID]*file)
}

// errnoOf returns the errno of a system call's error, 0 for nil.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.EIO
}

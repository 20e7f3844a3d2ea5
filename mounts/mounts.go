// Package mounts reports the filesystems that are mounted and unmounted while
// it runs, from the kernel's mount table (/proc/self/mountinfo), with each
// block device's filesystem label and UUID.
//
// Linux marks /proc/self/mountinfo with POLLPRI (and POLLERR) whenever the
// mount table of the namespace changes; a Watcher polls the open file for
// that, re-reads it from offset 0 on each wake-up and reports the difference
// with the previous table. No path is polled and no event is lost: the kernel
// counts changes, so a change made between a read and the next poll wakes
// that poll.
package mounts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/targetfs"
)

// mountinfoPath is where the kernel lists the mounts this process sees.
const mountinfoPath = "/proc/self/mountinfo"

// Kind says whether a filesystem appeared or went away.
type Kind int

// The kinds of Event.
const (
	Mounted Kind = iota + 1
	Unmounted
)

func (k Kind) String() string {
	switch k {
	case Mounted:
		return "mounted"
	case Unmounted:
		return "unmounted"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Mount is one mounted filesystem.
type Mount struct {
	targetfs.MountInfo
	// ID is the kernel's mount ID, unique among the current mounts; the
	// kernel may give it again to the next mount. A card unmounted and
	// mounted again at the same point, on the same device, between two reads
	// of the table (within milliseconds) is the same mount to a Watcher.
	ID int
	// UUID and Label identify the filesystem on a block device (Source under
	// /dev, a loop device for a FUSE exFAT card), "" when unknown: from the
	// /dev/disk/by-uuid and by-label links udev makes, else from blkid.
	UUID, Label string
}

// Event is a change of the mount table.
type Event struct {
	Kind  Kind
	Mount Mount
}

// Watcher follows the mount table. Open it, read the table it started from
// with Mounts, then Run it to hear of every change made after Open.
type Watcher struct {
	fd   int
	ids  idSource
	path string

	mu     sync.Mutex
	mounts []Mount // the table as last read, in the kernel's order
}

// Open opens the mount table and reads it. Changes made after Open returns
// are reported by Run.
func Open() (*Watcher, error) {
	return open(mountinfoPath, systemIDs{})
}

func open(path string, ids idSource) (*Watcher, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w := &Watcher{fd: fd, ids: ids, path: path}
	table, err := w.read()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	w.mounts = w.identify(table, nil)
	return w, nil
}

// List returns the filesystems mounted now, in the kernel's order (a later
// mount at the same mount point is on top), with their labels and UUIDs.
func List() ([]Mount, error) {
	w, err := Open()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	return w.Mounts(), nil
}

// Mounts returns the mount table as the Watcher last read it: at Open, then
// as of the last event Run reported.
func (w *Watcher) Mounts() []Mount {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.mounts)
}

// Close releases the mount table. Call it after Run returned.
func (w *Watcher) Close() error {
	if err := unix.Close(w.fd); err != nil {
		return fmt.Errorf("close %s: %w", w.path, err)
	}
	return nil
}

// Run calls fn for each mount and unmount, from the Watcher's goroutine, until
// ctx is done; then it returns nil. Of one change of the table, unmounts are
// reported before mounts, so a card moved to another mount point is first
// Unmounted at the old point and then Mounted at the new one. While fn runs,
// changes wait (the kernel keeps count of them).
func (w *Watcher) Run(ctx context.Context, fn func(Event)) error {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("watch %s: eventfd: %w", w.path, err)
	}
	defer unix.Close(stop)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
			unix.Write(stop, one) // an eventfd write of 8 bytes cannot fail here
		case <-done:
		}
	})
	defer wg.Wait() // before the deferred Close of stop
	defer close(done)
	for {
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLPRI}, {Fd: int32(stop), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("watch %s: poll: %w", w.path, err)
		}
		if fds[1].Revents != 0 || ctx.Err() != nil {
			return nil
		}
		if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) == 0 {
			continue
		}
		if err := w.changed(fn); err != nil {
			return err
		}
	}
}

// changed re-reads the table and reports its difference with the last one.
func (w *Watcher) changed(fn func(Event)) error {
	table, err := w.read()
	if err != nil {
		return err
	}
	w.mu.Lock()
	old := w.mounts
	w.mu.Unlock()
	now := w.identify(table, old)
	gone, added := diff(old, now)
	w.mu.Lock()
	w.mounts = now
	w.mu.Unlock()
	for _, m := range gone {
		fn(Event{Kind: Unmounted, Mount: m})
	}
	for _, m := range added {
		fn(Event{Kind: Mounted, Mount: m})
	}
	return nil
}

// read reads the whole table from offset 0 of the open file.
func (w *Watcher) read() ([]targetfs.Mount, error) {
	buf := make([]byte, 0, 64<<10)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := unix.Pread(w.fd, buf[len(buf):cap(buf)], int64(len(buf)))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", w.path, err)
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	table, err := targetfs.ParseMountinfo(bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", w.path, err)
	}
	return table, nil
}

// key tells one mount from another even when the kernel reused a mount ID
// between two reads.
type key struct {
	id           int
	point, src   string
	major, minor int
}

func keyOf(m Mount) key {
	return key{m.ID, m.MountPoint, m.Source, m.Major, m.Minor}
}

func keyOfEntry(e targetfs.Mount) key {
	return key{e.ID, e.MountPoint, e.Source, e.Major, e.Minor}
}

// identify makes Mounts of a table, taking UUID and label from old for the
// mounts it already knew and asking ids for the new ones.
func (w *Watcher) identify(table []targetfs.Mount, old []Mount) []Mount {
	known := make(map[key]Mount, len(old))
	for _, m := range old {
		known[keyOf(m)] = m
	}
	out := make([]Mount, 0, len(table))
	for _, e := range table {
		if m, ok := known[keyOfEntry(e)]; ok {
			out = append(out, m)
			continue
		}
		m := Mount{MountInfo: e.MountInfo, ID: e.ID}
		m.UUID, m.Label = w.ids.identify(e.Source)
		out = append(out, m)
	}
	return out
}

// diff returns the mounts of old missing from now and those of now missing
// from old, each in its table's order.
func diff(old, now []Mount) (gone, added []Mount) {
	in := func(list []Mount) map[key]bool {
		s := make(map[key]bool, len(list))
		for _, m := range list {
			s[keyOf(m)] = true
		}
		return s
	}
	inOld, inNow := in(old), in(now)
	for _, m := range old {
		if !inNow[keyOf(m)] {
			gone = append(gone, m)
		}
	}
	for _, m := range now {
		if !inOld[keyOf(m)] {
			added = append(added, m)
		}
	}
	return gone, added
}

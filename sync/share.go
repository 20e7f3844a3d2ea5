package sync

import (
	"context"
	"path/filepath"
	stdsync "sync"
	"time"

	"golang.org/x/sys/unix"
)

// Share lets the passes of one library that run at once — the cards of a
// cards profile synced together — read each library file from the disk
// once. A pass drops a library file from the page cache after copying it
// (a mirror must not evict the machine's real work); with a Share, the
// file stays cached until every pass that planned to copy it has read it,
// so the others read it from memory. What stays cached for the passes
// behind is bounded (shareLead): passes that drift too far apart read
// again rather than fill the page cache.
//
// A pass joins before it plans (Join), says what it will copy once planned
// (its copies are registered in planAll), waits a moment for the other
// members to plan too, and leaves when it ends, whatever happened.
type Share struct {
	mu      stdsync.Mutex
	changed *stdsync.Cond
	members int                // passes joined and not left
	waiting int                // members that have not registered their plan yet
	need    map[shareKey]int   // passes that still have to read the file
	held    int64              // bytes kept cached for the passes behind
	keep    map[shareKey]int64 // files kept cached, and their size
}

// shareKey identifies one version of a library file.
type shareKey struct {
	rel         string
	size, mtime int64
}

// shareMember is one pass in a Share.
type shareMember struct {
	sh      *Share
	source  string // the library root
	planned bool
	left    bool
	unread  map[shareKey]bool // registered, not read yet
}

const (
	// shareLead bounds the bytes kept cached for the passes behind.
	shareLead = 256 << 20
	// shareWait bounds how long a planned pass waits for the others to
	// plan before it reads (a card whose pass is stuck opening must not
	// hold the others back).
	shareWait = 5 * time.Second
)

// NewShare returns an empty Share.
func NewShare() *Share {
	sh := &Share{need: map[shareKey]int{}, keep: map[shareKey]int64{}}
	sh.changed = stdsync.NewCond(&sh.mu)
	return sh
}

// join adds a pass over the library at source to the share; the pass
// must call leave when it ends. A nil Share shares nothing.
func (sh *Share) join(source string) *shareMember {
	if sh == nil {
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := &shareMember{sh: sh, source: source, unread: map[shareKey]bool{}}
	sh.members++
	sh.waiting++
	return m
}

// plan registers the library files the member will copy, then waits (at
// most shareWait, or until ctx ends) for the other members to plan.
func (m *shareMember) plan(ctx context.Context, files []*srcFile) {
	if m == nil {
		return
	}
	sh := m.sh
	sh.mu.Lock()
	for _, f := range files {
		k := shareKey{f.Rel, f.Size, f.Mtime}
		if !m.unread[k] {
			m.unread[k] = true
			sh.need[k]++
		}
	}
	m.done()
	deadline := time.Now().Add(shareWait)
	stop := context.AfterFunc(ctx, func() {
		sh.mu.Lock()
		sh.changed.Broadcast()
		sh.mu.Unlock()
	})
	timer := time.AfterFunc(shareWait, func() {
		sh.mu.Lock()
		sh.changed.Broadcast()
		sh.mu.Unlock()
	})
	for sh.waiting > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
		sh.changed.Wait()
	}
	sh.mu.Unlock()
	stop()
	timer.Stop()
}

// done marks the member's plan registered (sh.mu held).
func (m *shareMember) done() {
	if !m.planned {
		m.planned = true
		m.sh.waiting--
		m.sh.changed.Broadcast()
	}
}

// read is called once the member has copied library file f from the
// descriptor fd: the file's pages are dropped unless another member has
// still to read it (and the lead allows it).
func (m *shareMember) read(f *srcFile, fd int) {
	if m == nil {
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
		return
	}
	sh := m.sh
	k := shareKey{f.Rel, f.Size, f.Mtime}
	sh.mu.Lock()
	drop := true
	if m.unread[k] {
		delete(m.unread, k)
		sh.need[k]--
		switch {
		case sh.need[k] <= 0:
			delete(sh.need, k)
			if size, ok := sh.keep[k]; ok {
				delete(sh.keep, k)
				sh.held -= size
			}
		case sh.keep[k] == 0 && sh.held+f.Size <= shareLead:
			sh.keep[k] = max(f.Size, 1)
			sh.held += max(f.Size, 1)
			drop = false
		case sh.keep[k] != 0:
			drop = false // kept by the first reader for the others
		}
	}
	sh.mu.Unlock()
	if drop {
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	}
}

// leave ends the member's part: what it registered and did not read is
// no longer needed by it (a file nobody else needs is dropped by the last
// reader; one kept for it alone is let go).
func (m *shareMember) leave() {
	if m == nil {
		return
	}
	sh := m.sh
	sh.mu.Lock()
	if m.left {
		sh.mu.Unlock()
		return
	}
	m.left = true
	m.done()
	sh.members--
	var drop []string
	for k := range m.unread {
		sh.need[k]--
		if sh.need[k] <= 0 {
			delete(sh.need, k)
			if size, ok := sh.keep[k]; ok {
				delete(sh.keep, k)
				sh.held -= size
				drop = append(drop, k.rel)
			}
		}
	}
	m.unread = nil
	sh.mu.Unlock()
	// Kept for this pass alone, which will not read them: let them go.
	for _, rel := range drop {
		if fd, err := openRead(filepath.Join(m.source, filepath.FromSlash(rel))); err == nil {
			_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
			unix.Close(fd)
		}
	}
}

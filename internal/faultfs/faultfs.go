// Package faultfs serves a real folder through an in-process FUSE mount that
// misbehaves on demand, the way dying cards and slow NAS shares do, for the
// reliability tests of the sync engine.
//
// The filesystem is go-fuse's loopback filesystem with a few operations
// overridden (lookup, getattr, open, create, read, write, fsync, flush). Faults
// are set per file with [FS.Set] and counted in [FS.Injected]. File contents are
// served with direct I/O and every attribute and entry cache timeout is zero,
// so the kernel page cache never hides a fault.
package faultfs

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/romsyncd/romsyncd/internal/fusemount"
)

// Kinds of injected faults, the keys of [FS.Injected].
const (
	KindEIO      = "eio"       // a read or write touching Fault.EIOAtOffset failed with EIO
	KindShort    = "short"     // a read returned less than asked and less than available
	KindEOF      = "eof"       // a read was cut at Fault.EarlyEOF
	KindChange   = "change"    // the backing file was appended to and touched
	KindStatSize = "statsize"  // an attribute reply carried Fault.StatSize
	KindDelay    = "delay"     // a read was delayed by Fault.ReadDelay
	KindWriteEIO = "write_eio" // a write failed with EIO
	KindENOSPC   = "enospc"    // a write failed with ENOSPC
	KindFsyncEIO = "fsync_eio" // an fsync or a flush of a written file failed with EIO
)

// AllFiles is the rule name that applies to every path without a rule of its own.
const AllFiles = "*"

// changeMarker is what ChangeWhileRead appends to the backing file.
const changeMarker = "\n-- romsyncd faultfs: appended while being read --\n"

// Fault describes how one file misbehaves. Start from [NoFault] and switch on
// the knobs needed: in the zero value the offsets are 0, which means "at the
// very first byte", not "off".
type Fault struct {
	// EIOAtOffset, unless -1, makes a read that would return the byte at this
	// offset, or a write that covers it, fail with EIO.
	EIOAtOffset int64
	// ShortReads makes reads return at most half of what was asked (at least
	// one byte). That is legal for read(2): a correct copier loops.
	ShortReads bool
	// EarlyEOF, unless -1, makes reads at or past this offset return no bytes
	// (end of file) although the file is longer: the classic truncated copy.
	EarlyEOF int64
	// ChangeWhileRead appends to the backing file and moves its mtime forward
	// (to now, and at least one second past the old mtime) after the first
	// read of the file, as if the library was being written meanwhile. It
	// happens once per file per Set.
	ChangeWhileRead bool
	// StatSize, unless -1, is the size attribute replies report for the file
	// while reads return the real content.
	StatSize int64
	// ReadDelay is slept in every read. The sleep ends early, with EINTR,
	// when the kernel interrupts the request (the reader got a signal or was
	// killed) or the filesystem is unmounted.
	ReadDelay time.Duration
	// WriteEIO makes writes fail with EIO.
	WriteEIO bool
	// WriteENOSPC makes writes fail with ENOSPC.
	WriteENOSPC bool
	// FsyncEIO makes fsync fail with EIO, and the flush of a handle opened
	// for writing (so close(2) reports EIO). On a directory rule it makes the
	// directory's fsync fail.
	FsyncEIO bool
	// Probability, when strictly between 0 and 1, is the chance that each
	// operation the fault could apply to gets it; 0 and 1 mean always. The
	// choices come from a random stream per file and fault kind seeded by
	// Options.Seed, so the same operations on the same files get the same
	// faults on every run.
	Probability float64
}

// NoFault returns a Fault with every knob off.
func NoFault() Fault {
	return Fault{EIOAtOffset: -1, EarlyEOF: -1, StatSize: -1}
}

// Options configure a mount.
type Options struct {
	// Seed seeds the random streams used for Fault.Probability.
	Seed int64
	// Debug logs every FUSE request and reply to the test log.
	Debug bool
}

// FS is a mounted fault-injecting loopback of a backing folder.
type FS struct {
	dir     string // mount point
	backing string // absolute path of the backing folder
	seed    int64
	logf    func(format string, args ...any)

	srv  *fusemount.Server
	conn uint64        // FUSE connection number: the device of the mount
	stop chan struct{} // closed when unmounting starts: delays end

	mu       sync.Mutex
	rules    map[string]*rule // by slash-separated path relative to the root, or AllFiles
	injected map[string]int
	streams  map[streamKey]*rand.Rand
}

// rule is a Fault set on a path, with the state it needs.
type rule struct {
	fault   Fault
	changed map[string]bool // files ChangeWhileRead has already changed
}

type streamKey struct {
	rel, kind string
}

// Dir returns the mount point.
func (f *FS) Dir() string {
	return f.dir
}

// Set makes the file at rel (slash-separated, relative to the root of the
// mount) misbehave as fault describes, replacing any fault it had; AllFiles
// ("*") applies to every path that has no rule of its own. Faults apply to
// operations that start after Set returns, on handles already open too.
func (f *FS) Set(rel string, fault Fault) {
	p := fault.Probability
	if math.IsNaN(p) || p < 0 || p > 1 {
		panic(fmt.Sprintf("faultfs: set %q: probability %v is outside [0, 1]", rel, p))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[cleanRel(rel)] = &rule{fault: fault, changed: make(map[string]bool)}
}

// Clear removes the fault set on rel.
func (f *FS) Clear(rel string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rules, cleanRel(rel))
}

// Injected returns how many faults were actually injected, by kind (the Kind
// constants). Kinds never injected are absent.
func (f *FS) Injected() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.injected))
	for k, n := range f.injected {
		out[k] = n
	}
	return out
}

// cleanRel turns a user-given relative path into the form go-fuse's
// Inode.Path returns: slash-separated, no leading slash, "" for the root.
func cleanRel(rel string) string {
	if rel == AllFiles {
		return rel
	}
	return strings.TrimPrefix(path.Clean("/"+rel), "/")
}

// lookup returns the rule for rel: its own, else the AllFiles one.
func (f *FS) lookup(rel string) (*rule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.rules[rel]; ok {
		return r, true
	}
	r, ok := f.rules[AllFiles]
	return r, ok
}

// inject decides whether a fault of kind applies to this operation on rel,
// and counts it if so. Call it only when the fault would change the outcome.
func (f *FS) inject(rel, kind string, p float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.chance(rel, kind, p) {
		return false
	}
	f.injected[kind]++
	return true
}

// claimChange is inject for ChangeWhileRead: it also records that r changed
// rel, so that concurrent reads change the file once. f.mu must not be held.
func (f *FS) claimChange(r *rule, rel string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.changed[rel] || !f.chance(rel, KindChange, r.fault.Probability) {
		return false
	}
	r.changed[rel] = true
	f.injected[KindChange]++
	return true
}

// chance draws from the stream of rel and kind. f.mu must be held.
func (f *FS) chance(rel, kind string, p float64) bool {
	if p <= 0 || p >= 1 {
		return true
	}
	k := streamKey{rel: rel, kind: kind}
	r, ok := f.streams[k]
	if !ok {
		h := fnv.New64a()
		h.Write([]byte(rel))
		h.Write([]byte{0})
		h.Write([]byte(kind))
		r = rand.New(rand.NewPCG(uint64(f.seed), h.Sum64()))
		f.streams[k] = r
	}
	return r.Float64() < p
}

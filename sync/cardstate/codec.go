package cardstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// The manifest file format (version 2), little endian, lengths and counts
// as unsigned varints, sizes and times as signed varints:
//
//	"RSMF" 0x02
//	flags (bit 0: Created)  dir  count
//	count × entry:  name source srcSize srcMtime size mtime hash[8]
//	                pending (0, or 1 and: source srcSize srcMtime size hash[8])
//	                extras (count, then count × (tag, string): 1 = Moved;
//	                        a reader skips tags it does not know)
//	xxhash64 of everything before it [8]
//
// It replaced the JSON of version 1 because a no-op pass over a 20,000-file
// card spent more time decoding JSON than listing the card; one allocation
// holds every name and source of a decoded manifest (see decodeBinary), and
// the trailing hash tells a manifest a power cut or a failing card damaged
// from a good one as surely as JSON's syntax did.
const (
	binMagic   = "RSMF"
	binVersion = 2
	flagCreate = 1
	// extraMoved tags Entry.Moved (where the device moved the file).
	extraMoved = 1
)

// errTruncated: the manifest ends inside a field.
var errTruncated = errors.New("truncated")

// isBinary reports whether data is a version 2 manifest (by its magic).
func isBinary(data []byte) bool {
	return len(data) >= len(binMagic) && string(data[:len(binMagic)]) == binMagic
}

// encodeBinary encodes f (entries in name order).
func encodeBinary(f *Folder) []byte {
	names := make([]string, 0, len(f.Files))
	size := 64 + len(f.Dir)
	for n, e := range f.Files {
		names = append(names, n)
		size += len(n) + len(e.Source) + 48
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(b, binMagic...)
	b = append(b, binVersion)
	var flags uint64
	if f.Created {
		flags |= flagCreate
	}
	b = binary.AppendUvarint(b, flags)
	b = appendString(b, f.Dir)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		e := f.Files[n]
		b = appendString(b, n)
		b = appendString(b, e.Source)
		b = binary.AppendVarint(b, e.SrcSize)
		b = binary.AppendVarint(b, e.SrcMtime)
		b = binary.AppendVarint(b, e.Target.Size)
		b = binary.AppendVarint(b, e.Target.Mtime)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Target.Hash))
		if p := e.Pending; p != nil {
			b = append(b, 1)
			b = appendString(b, p.Source)
			b = binary.AppendVarint(b, p.SrcSize)
			b = binary.AppendVarint(b, p.SrcMtime)
			b = binary.AppendVarint(b, p.Size)
			b = binary.LittleEndian.AppendUint64(b, uint64(p.Hash))
		} else {
			b = append(b, 0)
		}
		if e.Moved != "" {
			b = binary.AppendUvarint(b, 1)
			b = binary.AppendUvarint(b, extraMoved)
			b = appendString(b, e.Moved)
		} else {
			b = binary.AppendUvarint(b, 0)
		}
	}
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeBinary decodes a version 2 manifest. A damaged one (bad hash,
// truncated, garbled) is an error wrapping errDamaged; one of a newer
// format version is an error that does not.
func decodeBinary(data []byte) (*Folder, error) {
	if len(data) < len(binMagic)+1+8 {
		return nil, fmt.Errorf("%w: %w (%d bytes)", errDamaged, errTruncated, len(data))
	}
	if v := data[len(binMagic)]; v != binVersion {
		if v > binVersion {
			return nil, fmt.Errorf("format version %d is newer than %d (written by a newer romsyncd)", v, binVersion)
		}
		return nil, fmt.Errorf("%w: format version %d", errDamaged, v)
	}
	end := len(data) - 8
	if sum := binary.LittleEndian.Uint64(data[end:]); sum != xxhash.Sum64(data[:end]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errDamaged)
	}
	body := data[len(binMagic)+1 : end]
	// Two readings: the first sizes the one allocation that holds every
	// string, the second fills it. An entry's name is the tail of its
	// source path whenever the library file kept its name, and a pending
	// install's source is mostly the entry's own: those share memory.
	sizer := reader{b: body}
	if _, err := sizer.folder(); err != nil {
		return nil, fmt.Errorf("%w: %w", errDamaged, err)
	}
	r := reader{b: body, arena: make([]byte, 0, sizer.need)}
	f, err := r.folder()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDamaged, err)
	}
	return f, nil
}

// reader reads the fields of a manifest body. Without an arena it only
// counts the bytes the strings need (need); with one, sized so, it copies
// the strings there and hands out strings that share it.
type reader struct {
	b     []byte
	off   int
	err   error
	need  int
	arena []byte
}

// keep returns b as a string: from the arena, or counted for it.
func (r *reader) keep(b []byte) string {
	if r.arena == nil {
		r.need += len(b)
		return ""
	}
	if len(b) == 0 || len(r.arena)+len(b) > cap(r.arena) {
		return string(b) // never reached for a manifest the sizer read
	}
	start := len(r.arena)
	r.arena = append(r.arena, b...)
	// The arena never grows (its capacity is exact) and its bytes are
	// never written again: the strings stay valid and immutable.
	return unsafe.String(&r.arena[start], len(b))
}

func (r *reader) folder() (*Folder, error) {
	flags := r.uvarint()
	f := &Folder{Dir: string(r.bytes()), Created: flags&flagCreate != 0}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) { // every entry takes bytes
		r.err = fmt.Errorf("entry count %d", n)
	}
	if r.err != nil {
		return nil, r.err
	}
	var entries []Entry
	if r.arena != nil {
		entries = make([]Entry, n)
		f.Files = make(map[string]*Entry, n)
	}
	var e Entry
	for i := range n {
		nameB, srcB := r.bytes(), r.bytes()
		source := r.keep(srcB)
		var name string
		switch {
		case r.arena == nil:
			if !shares(srcB, nameB) {
				r.keep(nameB)
			}
		case shares(srcB, nameB):
			name = source[len(source)-len(nameB):]
		default:
			name = r.keep(nameB)
		}
		e = Entry{Source: source}
		e.SrcSize, e.SrcMtime = r.varint(), r.varint()
		e.Target.Size, e.Target.Mtime = r.varint(), r.varint()
		e.Target.Hash = Hash(r.uint64())
		switch r.byte() {
		case 0:
		case 1:
			p := &PendingInstall{}
			if psrc := r.bytes(); string(psrc) == string(srcB) {
				p.Source = source
			} else {
				p.Source = r.keep(psrc)
			}
			p.SrcSize, p.SrcMtime, p.Size, p.Hash = r.varint(), r.varint(), r.varint(), Hash(r.uint64())
			e.Pending = p
		default:
			r.fail("pending flag")
		}
		for range r.uvarint() {
			tag, val := r.uvarint(), r.bytes()
			if tag == extraMoved {
				e.Moved = r.keep(val)
			} // other tags: fields of later versions, skipped
		}
		if r.err != nil {
			return nil, r.err
		}
		if r.arena == nil {
			continue
		}
		if _, dup := f.Files[name]; dup {
			return nil, fmt.Errorf("entry %q twice", name)
		}
		entries[i] = e
		f.Files[name] = &entries[i]
	}
	if r.off != len(r.b) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(r.b)-r.off)
	}
	return f, nil
}

// shares reports whether name is the last element of the source path src
// (or src itself): then it needs no bytes of its own.
func shares(src, name []byte) bool {
	if len(src) == len(name) {
		return string(src) == string(name)
	}
	return len(src) > len(name) && src[len(src)-len(name)-1] == '/' && string(src[len(src)-len(name):]) == string(name)
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %w", what, r.off, errTruncated)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.off += n
	return x
}

// varint reads a signed varint: binary.AppendVarint's zig-zag over an
// unsigned one.
func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// bytes reads a length-prefixed string; the slice shares the body.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.fail("string")
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail("byte")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uint64() uint64 {
	if r.err != nil || len(r.b)-r.off < 8 {
		r.fail("hash")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// validName reports whether n can be a file name in a manifest.
func validName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "/\x00") && n != "." && n != ".."
}

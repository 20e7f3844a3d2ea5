package cardstate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// The manifest file format (version 2), little endian, lengths and counts
// as unsigned varints, sizes and times as signed varints:
//
//	"RSMF" 0x02
//	flags (bit 0: Created)  dir  count
//	count × entry:  name source srcSize srcMtime size mtime hash[8]
//	                pending (0, or 1 and: source srcSize srcMtime size hash[8])
//	                extras (count, then count × (tag, string); none yet)
//	xxhash64 of everything before it [8]
//
// It replaced the JSON of version 1 because a no-op pass over a 20,000-file
// card spent more time decoding JSON than listing the card; one string
// holds every name and source of a decoded manifest (one allocation), and
// the trailing hash tells a manifest a power cut or a failing card damaged
// from a good one as surely as JSON's syntax did.
const (
	binMagic   = "RSMF"
	binVersion = 2
	flagCreate = 1
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
		b = binary.AppendUvarint(b, 0) // extras
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
	r := reader{s: string(data[len(binMagic)+1 : end])}
	f, err := r.folder()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDamaged, err)
	}
	return f, nil
}

// reader reads the fields of a manifest body; strings it returns share
// its memory.
type reader struct {
	s   string
	off int
	err error
}

func (r *reader) folder() (*Folder, error) {
	flags := r.uvarint()
	f := &Folder{Dir: r.string(), Created: flags&flagCreate != 0}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.s)) { // every entry takes bytes
		r.err = fmt.Errorf("entry count %d", n)
	}
	if r.err != nil {
		return nil, r.err
	}
	entries := make([]Entry, n)
	f.Files = make(map[string]*Entry, n)
	for i := range entries {
		e := &entries[i]
		name := r.string()
		e.Source = r.string()
		e.SrcSize, e.SrcMtime = r.varint(), r.varint()
		e.Target.Size, e.Target.Mtime = r.varint(), r.varint()
		e.Target.Hash = Hash(r.uint64())
		switch r.byte() {
		case 0:
		case 1:
			e.Pending = &PendingInstall{Source: r.string(), SrcSize: r.varint(), SrcMtime: r.varint(), Size: r.varint(), Hash: Hash(r.uint64())}
		default:
			r.fail("pending flag")
		}
		for range r.uvarint() { // extras of later versions: skipped
			r.uvarint()
			r.string()
		}
		if r.err != nil {
			return nil, r.err
		}
		if _, dup := f.Files[name]; dup {
			return nil, fmt.Errorf("entry %q twice", name)
		}
		f.Files[name] = e
	}
	if r.off != len(r.s) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(r.s)-r.off)
	}
	return f, nil
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %w", what, r.off, errTruncated)
	}
}

func (r *reader) uvarint() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.s) {
			r.fail("number")
			return 0
		}
		c := r.s[r.off]
		r.off++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	r.fail("number")
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.s)-r.off) {
		r.fail("string")
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) byte() byte {
	if r.off >= len(r.s) {
		r.fail("byte")
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *reader) uint64() uint64 {
	if len(r.s)-r.off < 8 {
		r.fail("hash")
		r.off = len(r.s)
		return 0
	}
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(r.s[r.off+i])
	}
	r.off += 8
	return v
}

// validName reports whether n can be a file name in a manifest.
func validName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "/\x00") && n != "." && n != ".."
}

package watcher

import (
	"encoding/binary"
	"io/fs"
)

// listingHash returns the poll snapshot of the folder rel: a 64-bit xxhash
// over, for each entry that is not skipped, its name, mode and inode, plus
// size, mtime and ctime for non-folders. It reads metadata only (the listing
// and an lstat per entry), never file content, and only the hash is kept.
//
// The folder's own mtime/ctime are left out on purpose: they change when a
// skipped name ("._game.gba") comes or goes, which must not report the
// folder. Every change they would reveal for the other entries shows in the
// entries themselves: a new, removed or renamed name changes the names, and
// a file replaced by a rename (same name, size and mtime) changes the inode
// and ctime. Sub-folders contribute their name, mode and inode only, so that
// a change inside a sub-folder reports that sub-folder, not this one.
func (r *run) listingHash(rel string, entries []fs.DirEntry) uint64 {
	h := r.hasher
	h.Reset()
	buf := r.buf[:0]
	for _, e := range entries {
		name := e.Name()
		if r.w.opts.Skip != nil && r.w.skip(joinRel(rel, name), e.IsDir()) {
			continue
		}
		buf = append(buf, name...)
		buf = append(buf, 0)
		info, err := e.Info()
		if err != nil {
			// Gone since the listing: the next poll will not list it.
			buf = append(buf, 0xff)
			continue
		}
		ino, ctime := inodeAndCtime(info)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(info.Mode()))
		buf = binary.LittleEndian.AppendUint64(buf, ino)
		if !info.IsDir() {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(info.Size()))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(info.ModTime().UnixNano()))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(ctime))
		}
		if len(buf) >= 32<<10 {
			_, _ = h.Write(buf)
			buf = buf[:0]
		}
	}
	_, _ = h.Write(buf)
	r.buf = buf[:0]
	return h.Sum64()
}

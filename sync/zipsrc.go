package sync

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/romsyncd/romsyncd/sync/cardstate"
	"golang.org/x/sys/unix"
)

// A one-ROM zip in a platform folder whose device cannot read zips
// (Options.Unzip: the Analogue Pocket's cores) is installed as the file it
// holds. The library file stays the zip: the manifest's Source, SrcSize and
// SrcMtime are the zip's, so change detection, deletion and the
// source-changed checks work on the zip as on any file; only the name on the
// card and the bytes written are the member's. The member's CRC32 from the
// zip's central directory is checked against the bytes written, and the
// installed file is verified by xxhash like any other.

// base is the name the file is installed under, before name mapping: the
// zip member's for an unzipped source.
func (f *srcFile) base() string {
	if f.Member != "" {
		return path.Base(f.Member)
	}
	return path.Base(f.Rel)
}

// installSize is how many bytes the install writes to the card.
func (f *srcFile) installSize() int64 {
	if f.Member != "" {
		return f.MemberSize
	}
	return f.Size
}

// zipError is a zip romsyncd cannot install from: unreadable, or its
// member's bytes do not match what its central directory says.
type zipError struct {
	rel string
	msg string
}

func (e *zipError) Error() string {
	return fmt.Sprintf("zip %s: %s; nothing was installed from it: replace it in the library", e.rel, e.msg)
}

// isZipDamage reports whether err from archive/zip means a damaged zip
// (rather than a failed read, which may be retried).
func isZipDamage(err error) bool {
	return errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrAlgorithm) || errors.Is(err, zip.ErrChecksum) ||
		errors.Is(err, zip.ErrInsecurePath) || errors.Is(err, io.ErrUnexpectedEOF)
}

// oneMember returns the zip's only file, ignoring folders: a zip with no
// file or with several is not unzipped.
func oneMember(files []*zip.File) (*zip.File, bool) {
	var one *zip.File
	for _, f := range files {
		if strings.HasSuffix(f.Name, "/") || f.FileInfo().IsDir() {
			continue
		}
		if one != nil {
			return nil, false
		}
		one = f
	}
	return one, one != nil
}

// memberName is the member's name with Windows separators read as such;
// "" when it has no usable base name.
func memberName(f *zip.File) string {
	n := strings.ReplaceAll(f.Name, `\`, "/")
	switch b := path.Base(n); b {
	case ".", "..", "/", "":
		return ""
	}
	return n
}

// zipInfo is what a zip's central directory says about its one member.
type zipInfo struct {
	size, mtime int64 // the zip's, when it was read
	member      string
	memberSize  int64
	damage      string // why it cannot be installed from; "" if it can
}

// zipCache remembers the zips of the library by path, so a pass reads a
// zip's central directory only when the zip changed.
type zipCache struct {
	mu sync.Mutex
	m  map[string]zipInfo
}

func (zc *zipCache) get(rel string, size, mtime int64) (zipInfo, bool) {
	zc.mu.Lock()
	defer zc.mu.Unlock()
	zi, ok := zc.m[rel]
	return zi, ok && zi.size == size && zi.mtime == mtime
}

func (zc *zipCache) put(rel string, zi zipInfo) {
	zc.mu.Lock()
	defer zc.mu.Unlock()
	if zc.m == nil {
		zc.m = map[string]zipInfo{}
	}
	zc.m[rel] = zi
}

// unzip returns the files of library folder rel with the one-ROM zips of a
// platform that wants them unzipped set to install their member. A zip
// that cannot be read is reported and left out (and the pass deletes
// nothing: the library was not read whole); other zips stay as they are.
func (c *collector) unzip(rel string, files []srcFile) []srcFile {
	s := c.s
	top, _, _ := strings.Cut(rel, "/")
	if s.opts.Unzip == nil || rel == "." || !s.opts.Unzip(top) {
		return files
	}
	out := files[:0:0]
	for _, f := range files {
		if !strings.EqualFold(path.Ext(f.Rel), ".zip") {
			out = append(out, f)
			continue
		}
		zi, ok := s.zips.get(f.Rel, f.Size, f.Mtime)
		if !ok {
			var err error
			zi, err = readZipInfo(filepath.Join(s.opts.Source, filepath.FromSlash(f.Rel)), f.Rel)
			if err != nil {
				c.listErr(f.Rel, errText(err))
				continue
			}
			zi.size, zi.mtime = f.Size, f.Mtime
			s.zips.put(f.Rel, zi)
		}
		switch {
		case zi.damage != "":
			c.listErr(f.Rel, (&zipError{rel: f.Rel, msg: zi.damage}).Error())
			continue
		case zi.member != "":
			f.Member, f.MemberSize = zi.member, zi.memberSize
		}
		out = append(out, f)
	}
	return out
}

// readZipInfo reads a zip's central directory. A damaged zip is a zipInfo
// with damage set; err is a failed read.
func readZipInfo(p, rel string) (zipInfo, error) {
	fd, err := openRead(p)
	if err != nil {
		return zipInfo{}, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return zipInfo{}, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if isZipDamage(err) {
			return zipInfo{damage: "not a readable zip (" + err.Error() + ")"}, nil
		}
		return zipInfo{}, fmt.Errorf("read %s: %w", rel, err)
	}
	m, ok := oneMember(zr.File)
	if !ok {
		return zipInfo{}, nil // copied as it is
	}
	name := memberName(m)
	switch {
	case name == "":
		return zipInfo{damage: fmt.Sprintf("its one file has no usable name (%q)", m.Name)}, nil
	case m.UncompressedSize64 > math.MaxInt64:
		return zipInfo{damage: fmt.Sprintf("its one file claims %d bytes", m.UncompressedSize64)}, nil
	}
	return zipInfo{member: name, memberSize: int64(m.UncompressedSize64)}, nil
}

// stageZip is stage for an unzipped source: the zip's one member is
// extracted into a new temp file in dstDir while hashing it, its CRC32
// checked against the zip's central directory, and the zip checked
// unchanged before and after, as stage checks a library file.
func (c *copier) stageZip(ctx context.Context, dstDir string, a action) (st staged, err error) {
	s := a.Src
	srcPath := filepath.Join(c.source, filepath.FromSlash(s.Rel))
	fd, err := openRead(srcPath)
	if err != nil {
		return st, fmt.Errorf("open %s: %w", s.Rel, err)
	}
	f := os.NewFile(uintptr(fd), srcPath)
	defer f.Close()
	var before unix.Stat_t
	if err := unix.Fstat(fd, &before); err != nil {
		return st, fmt.Errorf("stat %s: %w", s.Rel, err)
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return st, fmt.Errorf("%s is no longer a regular file: %w", s.Rel, errSourceChanged)
	}
	zr, err := zip.NewReader(f, before.Size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if isZipDamage(err) {
			return st, &zipError{rel: s.Rel, msg: "not a readable zip (" + err.Error() + ")"}
		}
		return st, fmt.Errorf("read %s: %w", s.Rel, err)
	}
	m, ok := oneMember(zr.File)
	if !ok || memberName(m) != s.Member || int64(m.UncompressedSize64) != s.MemberSize {
		return st, fmt.Errorf("%s: %w", s.Rel, errSourceChanged) // another zip since the listing
	}
	size := s.MemberSize
	if c.maxFileSize > 0 && size > c.maxFileSize {
		return st, &tooLargeError{size: size, max: c.maxFileSize}
	}
	if err := c.reserve(dstDir, s.Rel, size); err != nil {
		return st, err
	}
	r, err := m.Open()
	if err != nil {
		if isZipDamage(err) {
			return st, &zipError{rel: s.Rel, msg: "cannot open " + m.Name + " (" + err.Error() + ")"}
		}
		return st, fmt.Errorf("read %s: %w", s.Rel, err)
	}
	defer r.Close()

	tmp, err := c.openTemp(dstDir, uint32(before.Mode&0o777))
	if err != nil {
		return st, err
	}
	st.tmp = tmp.path
	defer func() {
		if err != nil {
			tmp.discard()
			st.tmp = ""
		}
	}()
	hash, crc, n, err := c.copyMember(ctx, r, tmp, s.Rel, size, m.CRC32)
	if err != nil {
		return st, err
	}
	c.hashed.Add(n)
	if n != size || crc != m.CRC32 {
		return st, &zipError{rel: s.Rel, msg: fmt.Sprintf("%s is damaged: extracted %d bytes with CRC32 %08x, its central directory says %d bytes with CRC32 %08x",
			m.Name, n, crc, size, m.CRC32)}
	}
	if err := unchanged(fd, srcPath, s.Rel, &before); err != nil {
		return st, err
	}
	_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	if err := tmp.finish(before.Mtim, c.perFileSync); err != nil {
		return st, err
	}
	mt := time.Unix(before.Mtim.Unix())
	st.act = a
	st.hash = hash
	st.size = n
	st.srcSize = before.Size
	st.srcMtime = mt.UnixNano()
	return st, nil
}

// copyMember copies a zip member's decompressed bytes into the temp file
// tmp while hashing them (xxhash for the verify, CRC32 to compare with
// want, the zip's: archive/zip skips its own check when the zip says 0). It never writes more than size bytes: a member that inflates past
// what the zip declares (a zip bomb) is damage. archive/zip's own CRC check
// at the end of the member (ErrChecksum) is damage too.
func (c *copier) copyMember(ctx context.Context, r io.Reader, tmp *tempFile, rel string, size int64, want uint32) (cardstate.Hash, uint32, int64, error) {
	h := xxhash.New()
	crc := crc32.NewIEEE()
	buf := c.buffer()
	lr := io.LimitReader(r, size+1)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, n, err
		}
		m, rerr := io.ReadFull(lr, buf)
		if n+int64(m) > size {
			return 0, 0, n, &zipError{rel: rel, msg: fmt.Sprintf("its one file inflates past the %d bytes the zip declares", size)}
		}
		if m > 0 {
			h.Write(buf[:m])
			crc.Write(buf[:m])
			if err := tmp.write(buf[:m], rel, size-n); err != nil {
				return 0, 0, n, err
			}
			n += int64(m)
			if c.progress != nil {
				c.progress(int64(m))
			}
		}
		switch {
		case rerr == nil:
			continue
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			// The end of the member (ReadFull's short last block); a
			// member shorter than declared fails the size check.
			return cardstate.Hash(h.Sum64()), crc.Sum32(), n, nil
		case errors.Is(rerr, zip.ErrChecksum):
			return 0, 0, n, &zipError{rel: rel, msg: fmt.Sprintf("its one file is damaged: its bytes do not match the CRC32 %08x of the zip's central directory", want)}
		case isZipDamage(rerr):
			return 0, 0, n, &zipError{rel: rel, msg: "its one file is damaged (" + rerr.Error() + ")"}
		default:
			return 0, 0, n, fmt.Errorf("read %s at %d: %w", rel, n, rerr)
		}
	}
}

// hashSource hashes what installing library file src writes: the file, or
// for an unzipped source its member, decompressed and checked against the
// zip's CRC32 (used to adopt files already on a card and to recognise a
// moved library file).
func hashSource(root string, src *srcFile, buf []byte, hashed *atomic.Int64) (cardstate.Hash, int64, error) {
	p := filepath.Join(root, filepath.FromSlash(src.Rel))
	if src.Member == "" {
		return hashFile(p, buf, hashed)
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		return 0, 0, fmt.Errorf("hash %s: %w", src.Rel, err)
	}
	defer zr.Close()
	m, ok := oneMember(zr.File)
	if !ok || memberName(m) != src.Member {
		return 0, 0, fmt.Errorf("hash %s: %w", src.Rel, errSourceChanged)
	}
	r, err := m.Open()
	if err != nil {
		return 0, 0, fmt.Errorf("hash %s: %w", src.Rel, err)
	}
	defer r.Close()
	h := xxhash.New()
	crc := crc32.NewIEEE()
	n, err := io.CopyBuffer(io.MultiWriter(h, crc), onlyReader{io.LimitReader(r, src.MemberSize+1)}, buf)
	hashed.Add(n)
	if err != nil {
		return 0, n, fmt.Errorf("hash %s: %w", src.Rel, err)
	}
	if n != src.MemberSize || crc.Sum32() != m.CRC32 {
		return 0, n, &zipError{rel: src.Rel, msg: fmt.Sprintf("%s is damaged: %d bytes with CRC32 %08x, its central directory says %d bytes with CRC32 %08x",
			m.Name, n, crc.Sum32(), src.MemberSize, m.CRC32)}
	}
	return cardstate.Hash(h.Sum64()), n, nil
}

package cardstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"
)

// Hash is the xxhash64 of a file's content, written as 16 hex digits.
type Hash uint64

func (h Hash) String() string { return fmt.Sprintf("%016x", uint64(h)) }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return fmt.Errorf("hash %q: %w", b, err)
	}
	*h = Hash(v)
	return nil
}

// Version is one version of a file: its size, its mtime (Unix ns) and the
// hash of its content.
type Version struct {
	Size  int64 `json:"size"`
	Mtime int64 `json:"mtime"`
	Hash  Hash  `json:"hash"`
}

// Entry records a file romsyncd installed in a target folder. An Entry is
// a value: State stores and hands out pointers to entries that nobody
// changes; a change is a new Entry set in their place.
type Entry struct {
	// Source is the library path (relative, slash-separated) it came from.
	Source string `json:"source"`
	// SrcSize and SrcMtime identify the library version installed.
	SrcSize  int64 `json:"src_size"`
	SrcMtime int64 `json:"src_mtime"`
	// Target is what the installed file looked like on the target right
	// after the install (size, mtime as the target filesystem keeps it,
	// content hash).
	Target Version `json:"target"`
	// Pending is an install in flight: recorded (durably) before the temp
	// file is renamed over the final name, cleared once the rename is
	// durable. A crash in between leaves Pending set, and the next pass
	// decides by content which version the final name holds.
	Pending *PendingInstall `json:"pending,omitempty"`
	// Moved is where the device moved the installed file, relative to the
	// entry's folder ("<sub-folder>/<name>"; empty: under its name in the
	// folder). A device's playlist generator (Onion's m3u_gen.sh) moves
	// discs into a hidden sub-folder; the file stays romsyncd's there.
	Moved string `json:"moved,omitempty"`
}

// PendingInstall is the version an install in flight is about to put in place.
type PendingInstall struct {
	Source   string `json:"source"`
	SrcSize  int64  `json:"src_size"`
	SrcMtime int64  `json:"src_mtime"`
	Size     int64  `json:"size"`
	Hash     Hash   `json:"hash"`
}

// Installed reports whether e describes a file really in place (an entry
// created by a pending install that never completed has no Target yet).
func (e *Entry) Installed() bool { return e.Source != "" }

// WithoutPending returns e with its pending install dropped, or nil when
// the entry existed only for that install.
func (e *Entry) WithoutPending() *Entry {
	if !e.Installed() {
		return nil
	}
	c := *e
	c.Pending = nil
	return &c
}

// Folder is the manifest of one target folder.
type Folder struct {
	// Dir is the folder relative to the target root, slash-separated ("."
	// for the root).
	Dir string `json:"dir"`
	// Created is true when romsyncd created the folder (and may remove it
	// once it holds nothing).
	Created bool `json:"created,omitempty"`
	// Files maps a file name in Dir to what romsyncd installed under it.
	Files map[string]*Entry `json:"files"`

	saveMu stdsync.Mutex // serializes writes of this manifest
}

// manifestVersion is the version of the JSON manifests (version 1) that
// romsyncd still reads; it writes version 2 (codec.go).
const manifestVersion = 1

type folderFile struct {
	Version int `json:"version"`
	*Folder
}

// Manifest file names: the hash of the folder, then the format's suffix.
const (
	manifestSuffix = ".rsm"  // version 2 (codec.go)
	legacySuffix   = ".json" // version 1, read and converted
)

// manifestName is the file that holds the manifest of target folder dir.
func manifestName(dir string) string {
	return fmt.Sprintf("%016x%s", xxhash.Sum64String(dir), manifestSuffix)
}

// legacyName is the version 1 file of the manifest of dir.
func legacyName(dir string) string {
	return strings.TrimSuffix(manifestName(dir), manifestSuffix) + legacySuffix
}

// ManifestPath is the file that holds the manifest of target folder dir.
func ManifestPath(metaDir, dir string) string {
	return filepath.Join(metaDir, foldersDir, manifestName(dir))
}

// LoadManifests reads every folder manifest under .romsyncd/folders. It
// writes nothing. A damaged manifest (empty, truncated, garbled) is an
// error; see loadManifests for the tolerant form Open uses.
func LoadManifests(metaDir string) (map[string]*Folder, error) {
	set, err := loadManifests(metaDir, nil)
	if err != nil {
		return nil, err
	}
	if len(set.damaged) > 0 {
		return nil, set.damaged[0].err
	}
	return set.folders, nil
}

// damagedManifest is a manifest file that could not be used: its file
// name (which names its folder) and why.
type damagedManifest struct {
	name string
	err  error
}

// errDamaged marks a manifest whose content is not a manifest: a power
// cut or a filesystem error, not another romsyncd version.
var errDamaged = errors.New("damaged")

// fileSig tells versions of a manifest file apart: an atomic write makes
// a new file (another inode), and changes its size or mtime.
type fileSig struct {
	size, mtime int64
	ino         uint64
}

func sigOf(fi fs.FileInfo) fileSig {
	s := fileSig{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// manifestSet is what loadManifests read: the folders of the manifests
// read, the signature of every manifest file present, the damaged ones.
type manifestSet struct {
	folders map[string]*Folder
	sigs    map[string]fileSig // file name -> signature, every manifest present
	damaged []damagedManifest
	// legacy are the folders read from version 1 files, to convert;
	// stale the version 1 files a version 2 file replaced (a conversion
	// cut short), to remove.
	legacy []string
	stale  []string
}

// loadManifests reads the folder manifests whose file is not known
// (known: file name -> signature of the version already in memory; nil
// reads all). Damaged ones are returned apart, for the caller to heal.
// Other errors (the folder unreadable, a manifest of a newer romsyncd)
// are returned as errors.
func loadManifests(metaDir string, known map[string]fileSig) (manifestSet, error) {
	set := manifestSet{folders: map[string]*Folder{}, sigs: map[string]fileSig{}}
	dir := filepath.Join(metaDir, foldersDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, fmt.Errorf("read manifests %s: %w", dir, err)
	}
	var names []string
	current := map[string]bool{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), manifestSuffix) {
			current[strings.TrimSuffix(e.Name(), manifestSuffix)] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, TempPrefix) || !strings.HasSuffix(name, manifestSuffix) && !strings.HasSuffix(name, legacySuffix) {
			continue // a manifest write in flight or interrupted by a crash; other files
		}
		if stem, ok := strings.CutSuffix(name, legacySuffix); ok && current[stem] {
			set.stale = append(set.stale, name)
			continue
		}
		if known != nil {
			fi, err := e.Info()
			if err != nil {
				continue // gone meanwhile
			}
			if sig, ok := known[name]; ok && sig == sigOf(fi) {
				set.sigs[name] = sig
				continue
			}
		}
		names = append(names, name)
	}
	// Decoding is CPU-bound: one folder per core.
	folders := make([]*Folder, len(names))
	sigs := make([]fileSig, len(names))
	errs := make([]error, len(names))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, name := range names {
		g.Go(func() error {
			folders[i], sigs[i], errs[i] = readManifest(filepath.Join(dir, name), name)
			return nil
		})
	}
	_ = g.Wait()
	for i, f := range folders {
		name := names[i]
		err := errs[i]
		if errors.Is(err, errDamaged) {
			// fusefat returns zeros for a moment for a file while others
			// are written: read it again before calling it damaged.
			f, sigs[i], err = rereadManifest(filepath.Join(dir, name), name)
		}
		switch {
		case err == nil && strings.HasSuffix(name, legacySuffix):
			set.folders[f.Dir] = f
			set.legacy = append(set.legacy, f.Dir)
		case err == nil:
			set.folders[f.Dir] = f
			set.sigs[name] = sigs[i]
		case errors.Is(err, fs.ErrNotExist):
			// removed meanwhile
		case errors.Is(err, errDamaged):
			set.damaged = append(set.damaged, damagedManifest{name, err})
		default:
			return set, err
		}
	}
	return set, nil
}

// rereadManifest reads a manifest that came back damaged again a few times
// (10 ms, doubled each time: 310 ms in all).
func rereadManifest(p, name string) (*Folder, fileSig, error) {
	wait := 10 * time.Millisecond
	var err error
	for range 5 {
		time.Sleep(wait)
		wait *= 2
		var f *Folder
		var sig fileSig
		if f, sig, err = readManifest(p, name); err == nil || !errors.Is(err, errDamaged) {
			return f, sig, err
		}
	}
	return nil, fileSig{}, err
}

// readManifest reads one manifest and the signature of the version read.
func readManifest(p, name string) (*Folder, fileSig, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fileSig{}, fmt.Errorf("read manifest %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileSig{}, fmt.Errorf("read manifest %s: %w", p, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fileSig{}, fmt.Errorf("read manifest %s: %w", p, err)
	}
	m, err := decodeManifest(p, name, data)
	return m, sigOf(fi), err
}

// DecodeManifest decodes the content of the manifest file called name
// (either format); a damaged one is an error.
func DecodeManifest(name string, data []byte) (*Folder, error) {
	return decodeManifest(name, name, data)
}

func decodeManifest(p, name string, data []byte) (*Folder, error) {
	var f *Folder
	if isBinary(data) {
		var err error
		if f, err = decodeBinary(data); err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", p, err)
		}
	} else {
		var ff folderFile
		ff.Folder = &Folder{}
		if err := json.Unmarshal(data, &ff); err != nil {
			return nil, fmt.Errorf("read manifest %s: %w: %v", p, errDamaged, err)
		}
		if ff.Version > manifestVersion {
			return nil, fmt.Errorf("read manifest %s: version %d is newer than %d (written by a newer romsyncd)", p, ff.Version, manifestVersion)
		}
		if ff.Version != manifestVersion {
			return nil, fmt.Errorf("read manifest %s: %w: version %d", p, errDamaged, ff.Version)
		}
		f = ff.Folder
	}
	stem := strings.TrimSuffix(strings.TrimSuffix(name, manifestSuffix), legacySuffix)
	if f.Dir == "" || !ValidRel(f.Dir) || strings.TrimSuffix(manifestName(f.Dir), manifestSuffix) != stem {
		return nil, fmt.Errorf("read manifest %s: %w: folder %q does not match the file", p, errDamaged, f.Dir)
	}
	if f.Files == nil {
		f.Files = map[string]*Entry{}
	}
	for n, e := range f.Files {
		if !validName(n) || e == nil {
			return nil, fmt.Errorf("read manifest %s: %w: invalid entry %q", p, errDamaged, n)
		}
	}
	return f, nil
}

// ValidRel reports whether rel is a clean relative slash path inside the root.
func ValidRel(rel string) bool {
	if rel == "." {
		return true
	}
	return rel != "" && !path.IsAbs(rel) && path.Clean(rel) == rel && rel != ".." && !strings.HasPrefix(rel, "../")
}

// WriteManifest writes f as the manifest of its folder under metaDir,
// atomically, its data durable before the rename; durable also makes the
// rename durable. An empty manifest of a folder romsyncd did not create is
// removed instead.
func WriteManifest(metaDir string, f *Folder, durable bool) error {
	data, err := encodeManifest(f)
	if err != nil {
		return err
	}
	return writeManifest(metaDir, f.Dir, data, durable)
}

// writeManifest writes the encoded manifest of dir (nil: removes it).
func writeManifest(metaDir, dir string, data []byte, durable bool) error {
	p := ManifestPath(metaDir, dir)
	if data == nil {
		for _, q := range []string{p, filepath.Join(filepath.Dir(p), legacyName(dir))} {
			if err := os.Remove(q); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove manifest %s: %w", q, err)
			}
		}
		return nil
	}
	// Only the folders dir is created: .romsyncd holds the marker, and a
	// missing one means the card is gone (its empty mount point must stay
	// empty), never that it should be created.
	if err := os.Mkdir(filepath.Dir(p), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write manifest %s: %w", p, err)
	}
	if err := WriteFileAtomic(p, data, durable); err != nil {
		return err
	}
	// The version 1 file this one replaces, if any: once the new file is
	// in place, a reader prefers it, so a crash before this is harmless.
	if err := os.Remove(filepath.Join(filepath.Dir(p), legacyName(dir))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove manifest %s: %w", filepath.Join(filepath.Dir(p), legacyName(dir)), err)
	}
	return nil
}

// encodeManifest is the file content of f's manifest; nil when the
// manifest is to be removed.
func encodeManifest(f *Folder) ([]byte, error) {
	if len(f.Files) == 0 && !f.Created {
		return nil, nil
	}
	return encodeBinary(f), nil
}

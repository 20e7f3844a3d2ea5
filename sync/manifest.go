package sync

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	stdsync "sync"

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

// Entry records a file romsyncd installed in a target folder.
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
}

// PendingInstall is the version an install in flight is about to put in place.
type PendingInstall struct {
	Source   string `json:"source"`
	SrcSize  int64  `json:"src_size"`
	SrcMtime int64  `json:"src_mtime"`
	Size     int64  `json:"size"`
	Hash     Hash   `json:"hash"`
}

// installed reports whether e describes a file really in place (an entry
// created by a pending install that never completed has no Target yet).
func (e *Entry) installed() bool { return e.Source != "" }

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

const manifestVersion = 1

type folderFile struct {
	Version int `json:"version"`
	*Folder
}

// manifestName is the file that holds the manifest of target folder dir.
func manifestName(dir string) string {
	return fmt.Sprintf("%016x.json", xxhash.Sum64String(dir))
}

func (t *Target) manifestPath(dir string) string {
	return filepath.Join(t.meta, foldersDir, manifestName(dir))
}

// removeManifestTemps removes the temp files of manifest writes a killed
// run left. Only the lock holder may: a dry run (no lock) could delete the
// temp file of a running daemon's write.
func removeManifestTemps(metaDir string) {
	for _, dir := range []string{metaDir, filepath.Join(metaDir, foldersDir)} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			// Temp files of manifest, marker and journal writes, and probe
			// files: whatever a killed run left (the caller holds the lock).
			if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// loadManifests reads every folder manifest under .romsyncd/folders. It
// writes nothing.
func loadManifests(metaDir string) (map[string]*Folder, error) {
	dir := filepath.Join(metaDir, foldersDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*Folder{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifests %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) || !strings.HasSuffix(name, ".json") {
			continue // a manifest write in flight or interrupted by a crash; other files
		}
		names = append(names, name)
	}
	// Decoding is CPU-bound: one folder per core.
	folders := make([]*Folder, len(names))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, name := range names {
		g.Go(func() error {
			f, err := loadManifest(filepath.Join(dir, name), name)
			folders[i] = f
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]*Folder, len(folders))
	for _, f := range folders {
		out[f.Dir] = f
	}
	return out, nil
}

func loadManifest(p, name string) (*Folder, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", p, err)
	}
	var ff folderFile
	ff.Folder = &Folder{}
	if err := json.Unmarshal(data, &ff); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w (remove it and run `romsyncd init` to adopt the files again)", p, err)
	}
	if ff.Version != manifestVersion {
		return nil, fmt.Errorf("read manifest %s: version %d is not %d (written by another romsyncd version)", p, ff.Version, manifestVersion)
	}
	f := ff.Folder
	if f.Dir == "" || manifestName(f.Dir) != name || !validRel(f.Dir) {
		return nil, fmt.Errorf("read manifest %s: folder %q does not match the file name", p, f.Dir)
	}
	if f.Files == nil {
		f.Files = map[string]*Entry{}
	}
	for n := range f.Files {
		if n == "" || strings.ContainsAny(n, "/\x00") || n == "." || n == ".." {
			return nil, fmt.Errorf("read manifest %s: invalid file name %q", p, n)
		}
	}
	return f, nil
}

// validRel reports whether rel is a clean relative slash path inside the root.
func validRel(rel string) bool {
	if rel == "." {
		return true
	}
	return rel != "" && !path.IsAbs(rel) && path.Clean(rel) == rel && rel != ".." && !strings.HasPrefix(rel, "../")
}

// saveManifest writes f atomically; durable also fsyncs it and its folder.
// An empty manifest is removed instead.
func (t *Target) saveManifest(f *Folder, durable bool) error {
	p := t.manifestPath(f.Dir)
	if len(f.Files) == 0 && !f.Created {
		err := os.Remove(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove manifest %s: %w", p, err)
		}
		return nil
	}
	data, err := json.Marshal(folderFile{Version: manifestVersion, Folder: f})
	if err != nil {
		return fmt.Errorf("encode manifest %s: %w", f.Dir, err)
	}
	// Only the folders dir is created: .romsyncd holds the marker, and a
	// missing one means the card is gone (its empty mount point must stay
	// empty), never that it should be created.
	if err := os.Mkdir(filepath.Dir(p), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write manifest %s: %w", p, err)
	}
	return writeFileAtomic(p, data, durable)
}

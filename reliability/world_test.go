package reliability

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/internal/powerfs"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/status"
)

// version is one content a library path had: its size and xxhash.
type version struct {
	size int64
	hash uint64
}

func (v version) String() string { return fmt.Sprintf("%d B %016x", v.size, v.hash) }

func versionOf(data []byte) version { return version{int64(len(data)), xxhash.Sum64(data)} }

// history records every version written into the library during a
// scenario, per library path. A version is recorded before it becomes
// visible, so anything romsyncd can read is already known.
type history struct {
	mu       stdsync.Mutex
	versions map[string]map[version]bool // complete versions a path ever had
	// transient are states an in-place write passed through (the empty
	// file after O_TRUNC): real, but not a version the user wrote.
	transient map[string]map[version]bool
	cur       map[string]version // what the library holds now
}

func newHistory() *history {
	return &history{versions: map[string]map[version]bool{}, transient: map[string]map[version]bool{}, cur: map[string]version{}}
}

func (h *history) add(rel string, v version) {
	h.mu.Lock()
	defer h.mu.Unlock()
	addTo(h.versions, rel, v)
}

func addTo(m map[string]map[version]bool, rel string, v version) {
	if m[rel] == nil {
		m[rel] = map[version]bool{}
	}
	m[rel][v] = true
}

// classify says whether v is a version (1), a transient state (2) or
// neither (0) of rel.
func (h *history) classify(rel string, v version) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.versions[rel][v]:
		return 1
	case h.transient[rel][v]:
		return 2
	}
	return 0
}

func (h *history) versionsOf(rel string) []version {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []version
	for v := range h.versions[rel] {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].size < out[j].size })
	return out
}

// library is the ROM library of a scenario. Every change goes through it,
// so the history knows every version. Safe for concurrent use by a writer
// goroutine and the test.
type library struct {
	root    string // as romsyncd sees it
	stage   string // scratch folder on the same filesystem, for atomic writes
	h       *history
	clock   atomic.Int64 // mtimes: base + clock seconds, so every version has its own
	tmpN    atomic.Int64
	written atomic.Int64 // bytes written, for estimating how long a pass takes
}

var mtimeBase = time.Date(2020, time.January, 1, 0, 0, 0, 0, time.UTC)

func (l *library) abs(rel string) string { return filepath.Join(l.root, filepath.FromSlash(rel)) }

func (l *library) nextMtime() time.Time {
	n := l.clock.Add(1)
	return mtimeBase.Add(time.Duration(n)*time.Second + time.Duration(n%1000)*time.Microsecond)
}

// put writes a new version of rel the way rsync and downloaders do: into a
// temp file on the same filesystem, mtime set, renamed into place.
func (l *library) put(rel string, data []byte) error {
	l.written.Add(int64(len(data)))
	v := versionOf(data)
	l.h.add(rel, v)
	tmp := filepath.Join(l.stage, "w"+strconv.FormatInt(l.tmpN.Add(1), 10))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	mt := l.nextMtime()
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		return err
	}
	p := l.abs(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	l.h.mu.Lock()
	l.h.cur[rel] = v
	l.h.mu.Unlock()
	return nil
}

// putInPlace overwrites (or creates) rel in place, as cp does: O_TRUNC, one
// write, close. The empty file it passes through is a transient state.
func (l *library) putInPlace(rel string, data []byte) error {
	l.written.Add(int64(len(data)))
	v := versionOf(data)
	l.h.mu.Lock()
	addTo(l.h.versions, rel, v)
	addTo(l.h.transient, rel, versionOf(nil))
	l.h.mu.Unlock()
	p := l.abs(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	l.h.mu.Lock()
	l.h.cur[rel] = v
	l.h.mu.Unlock()
	return nil
}

func (l *library) remove(rel string) error {
	if err := os.Remove(l.abs(rel)); err != nil {
		return err
	}
	l.h.mu.Lock()
	delete(l.h.cur, rel)
	l.h.mu.Unlock()
	return nil
}

// rename moves a library file; its content becomes a version of the new
// path (romsyncd may move the installed file instead of copying it).
func (l *library) rename(from, to string) error {
	l.h.mu.Lock()
	v, ok := l.h.cur[from]
	if ok {
		addTo(l.h.versions, to, v)
	}
	l.h.mu.Unlock()
	if !ok {
		return fmt.Errorf("rename %s: not in the library", from)
	}
	if err := os.MkdirAll(filepath.Dir(l.abs(to)), 0o755); err != nil {
		return err
	}
	if err := os.Rename(l.abs(from), l.abs(to)); err != nil {
		return err
	}
	l.h.mu.Lock()
	delete(l.h.cur, from)
	l.h.cur[to] = v
	l.h.mu.Unlock()
	return nil
}

// renameDir moves a library folder with everything in it.
func (l *library) renameDir(from, to string) error {
	l.h.mu.Lock()
	moved := map[string]version{}
	for rel, v := range l.h.cur {
		if strings.HasPrefix(rel, from+"/") {
			nrel := to + strings.TrimPrefix(rel, from)
			moved[nrel] = v
			addTo(l.h.versions, nrel, v)
		}
	}
	l.h.mu.Unlock()
	if err := os.Rename(l.abs(from), l.abs(to)); err != nil {
		return err
	}
	l.h.mu.Lock()
	for rel := range l.h.cur {
		if strings.HasPrefix(rel, from+"/") {
			delete(l.h.cur, rel)
		}
	}
	for rel, v := range moved {
		l.h.cur[rel] = v
	}
	l.h.mu.Unlock()
	return nil
}

func (l *library) removeDir(rel string) error {
	if err := os.RemoveAll(l.abs(rel)); err != nil {
		return err
	}
	l.h.mu.Lock()
	for r := range l.h.cur {
		if strings.HasPrefix(r, rel+"/") {
			delete(l.h.cur, r)
		}
	}
	l.h.mu.Unlock()
	return nil
}

// total is the size of the library (as the model knows it).
func (l *library) total() int64 {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	var n int64
	for _, v := range l.h.cur {
		n += v.size
	}
	return n
}

// files lists the library's files (as the model knows them), sorted.
func (l *library) files() []string {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	out := make([]string, 0, len(l.h.cur))
	for rel := range l.h.cur {
		out = append(out, rel)
	}
	sort.Strings(out)
	return out
}

func (l *library) size(rel string) int64 {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	return l.h.cur[rel].size
}

// content returns size deterministic pseudo-random bytes for seed: every
// version differs from every other in every block, so a mix of two
// versions, a truncation or a zero-filled hole never hashes like a version.
func content(seed uint64, size int64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(size))
	c := rand.NewChaCha8(key)
	b := make([]byte, size)
	_, _ = c.Read(b)
	return b
}

// targetKind is the filesystem a scenario's target lives on.
type targetKind int

const (
	tmpfsTarget targetKind = iota
	exfatTarget
	// powerTarget: a tmpfs served through internal/powerfs, which loses
	// what was not fsynced on a simulated power cut (world.power).
	powerTarget
)

type worldOpts struct {
	target     targetKind
	targetSize string // default 768m (tmpfs, powerfs) or 384M (exFAT)
	libSize    string // the library tmpfs; default 1g
	// bindLibrary makes the library a bind mount of a folder on the library
	// tmpfs, so that a test can unmount it the way a NAS goes away.
	bindLibrary bool
	profile     string // extra profile keys, each line indented by four spaces
}

// world is one scenario's library, target, configuration and environment.
type world struct {
	t       *testing.T
	rng     *rand.Rand
	dir     string // scratch: config, state, home
	lib     *library
	libData string // bindLibrary: the folder bind-mounted at lib.root
	mnt     string // the target filesystem
	target  string // the target root: mnt/Roms
	cfg     string
	sock    string
	source  string // the profile's source: lib.root, or a FUSE view of it
	state   string
	opts    worldOpts
	profile string // profile keys currently in the config

	user    map[string]userEntry // files and folders the user put on the target
	exclude map[string]bool      // library paths the mirror check expects absent (reported)
	// tgtRel maps a library path to its target path; nil keeps it.
	tgtRel func(rel string) string

	// tolerateKnown downgrades violations of known, skip-marked bugs to
	// log lines (randomized scenarios; directed tests stay strict).
	tolerateKnown bool

	nameN int         // file name counter
	power *powerfs.FS // powerTarget: the layer that cuts the power
}

type userEntry struct {
	dir  bool
	link string // a symlink with this content
	ver  version
}

func newWorld(t *testing.T, rng *rand.Rand, opts worldOpts) *world {
	t.Helper()
	if opts.libSize == "" {
		opts.libSize = "1g"
	}
	dir := t.TempDir()
	libfs := testfs.Tmpfs(t, opts.libSize)
	w := &world{t: t, rng: rng, dir: dir, opts: opts, user: map[string]userEntry{}, exclude: map[string]bool{}}
	w.lib = &library{root: filepath.Join(libfs, "lib"), stage: filepath.Join(libfs, "stage"), h: newHistory()}
	mustMkdir(t, w.lib.stage)
	if opts.bindLibrary {
		w.libData = filepath.Join(libfs, "data")
		mustMkdir(t, w.libData)
		w.lib.root = filepath.Join(dir, "lib")
		mustMkdir(t, w.lib.root)
		w.bindLibrary()
		// Renames do not cross mounts: stage inside the library, in a
		// folder romsyncd always leaves out (NAS litter).
		w.lib.stage = filepath.Join(w.lib.root, "@eaDir")
		mustMkdir(t, w.lib.stage)
		t.Cleanup(func() {
			if isMountPoint(w.lib.root) {
				_ = unix.Unmount(w.lib.root, unix.MNT_DETACH)
			}
		})
	} else {
		mustMkdir(t, w.lib.root)
	}
	switch opts.target {
	case exfatTarget:
		if opts.targetSize == "" {
			opts.targetSize = "384M"
		}
		w.mnt = testfs.ExFAT(t, opts.targetSize)
	case powerTarget:
		if opts.targetSize == "" {
			opts.targetSize = "768m"
		}
		w.power = powerfs.Mount(t, testfs.Tmpfs(t, opts.targetSize), powerfs.Options{})
		w.mnt = w.power.Dir()
	default:
		if opts.targetSize == "" {
			opts.targetSize = "768m"
		}
		w.mnt = testfs.Tmpfs(t, opts.targetSize)
	}
	w.target = filepath.Join(w.mnt, "Roms")
	w.state = filepath.Join(dir, "state")
	w.cfg = filepath.Join(dir, "config.yaml")
	// A unix socket path must stay short.
	sockDir, err := os.MkdirTemp("/tmp", "rsr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	w.sock = filepath.Join(sockDir, "s.sock")
	for _, d := range []string{"home", "xdg-config", "xdg-state", "run"} {
		mustMkdir(t, filepath.Join(dir, d))
	}
	w.writeConfig(opts.profile)
	return w
}

func mustMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// bindLibrary mounts libData at the library root: the NAS is there.
func (w *world) bindLibrary() {
	w.t.Helper()
	if err := unix.Mount(w.libData, w.lib.root, "", unix.MS_BIND, ""); err != nil {
		w.t.Fatalf("bind %s on %s: %v", w.libData, w.lib.root, err)
	}
}

// unbindLibrary unmounts the library: the library root is an empty folder,
// as when a NAS share goes away under its mount point.
func (w *world) unbindLibrary() {
	w.t.Helper()
	err := unix.Unmount(w.lib.root, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(w.lib.root, unix.MNT_DETACH)
	}
	if err != nil {
		w.t.Fatalf("unmount library %s: %v", w.lib.root, err)
	}
}

func isMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(dir, &a) != nil || unix.Lstat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

func (w *world) sourceDir() string {
	if w.source != "" {
		return w.source
	}
	return w.lib.root
}

// writeConfig writes the configuration with the given extra profile keys.
func (w *world) writeConfig(profile string) {
	w.t.Helper()
	w.profile = profile
	y := fmt.Sprintf(`state_dir: %s
socket: %s
profiles:
  - name: card
    source: %s
    target: %s
    debounce: 100ms
    max_delay: 1s
    poll_interval: 200ms
%s`, strconv.Quote(w.state), strconv.Quote(w.sock), strconv.Quote(w.sourceDir()), strconv.Quote(w.target), profile)
	writeFileAtomic(w.t, w.cfg, []byte(y))
}

func writeFileAtomic(t testing.TB, p string, data []byte) {
	t.Helper()
	tmp := p + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// env confines everything romsyncd reads from the environment to w.dir.
func (w *world) env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(w.dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(w.dir, "xdg-config"),
		"XDG_STATE_HOME=" + filepath.Join(w.dir, "xdg-state"),
		"XDG_RUNTIME_DIR=" + filepath.Join(w.dir, "run"),
		"RUNTIME_DIRECTORY=" + filepath.Join(w.dir, "run"),
	}
}

// libSpec says what a fresh library holds.
type libSpec struct {
	folders  []string
	large    int   // files of largeMin..largeMax bytes
	largeMin int64 // default 8 MiB
	largeMax int64 // default 32 MiB
	small    int   // files of 0..300 KiB, with edge sizes
}

var platformExt = map[string]string{"GBA": "gba", "GB": "gb", "SFC": "sfc", "MD": "md", "NES": "nes", "PS": "bin"}

// romName is a new No-Intro-like file name in folder dir.
func (w *world) romName(dir string) string {
	w.nameN++
	top, _, _ := strings.Cut(dir, "/")
	ext := platformExt[top]
	if ext == "" {
		ext = "rom"
	}
	regions := []string{"USA", "Europe", "Japan", "USA, Europe", "World", "En,Fr,De"}
	return fmt.Sprintf("%s/Game %04d - Quest & Co (%s) [!].%s", dir, w.nameN, regions[w.rng.IntN(len(regions))], ext)
}

func (w *world) smallSize() int64 {
	switch w.rng.IntN(12) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return 1 << 20 // the copier's buffer size
	case 3:
		return 1<<20 + 1
	case 4:
		return 4096
	}
	return 1 + w.rng.Int64N(300<<10)
}

func (w *world) largeSize(spec libSpec) int64 {
	lo, hi := spec.largeMin, spec.largeMax
	if lo == 0 {
		lo = 8 << 20
	}
	if hi == 0 {
		hi = 32 << 20
	}
	return lo + w.rng.Int64N(hi-lo+1)
}

// populate fills an empty library.
func (w *world) populate(spec libSpec) {
	w.t.Helper()
	for i := 0; i < spec.large; i++ {
		w.putNew(spec.folders[w.rng.IntN(len(spec.folders))], w.largeSize(spec))
	}
	for i := 0; i < spec.small; i++ {
		w.putNew(spec.folders[i%len(spec.folders)], w.smallSize())
	}
}

func (w *world) putNew(dir string, size int64) string {
	w.t.Helper()
	rel := w.romName(dir)
	if err := w.lib.put(rel, content(w.rng.Uint64(), size)); err != nil {
		w.t.Fatal(err)
	}
	return rel
}

// libDirs lists the folders that hold library files (the model's view).
func (w *world) libDirs() []string {
	seen := map[string]bool{}
	for _, rel := range w.lib.files() {
		seen[path.Dir(rel)] = true
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// mutate applies n random library changes of the kinds a user makes:
// replace (same or new size), add, delete, rename, move to another folder,
// and now and then a folder renamed, deleted or created. It returns what
// it did, for failure messages.
func (w *world) mutate(spec libSpec, n int) []string {
	w.t.Helper()
	var did []string
	for i := 0; i < n; i++ {
		files := w.lib.files()
		dirs := w.libDirs()
		pick := func() string { return files[w.rng.IntN(len(files))] }
		large := 0
		for _, f := range files {
			if w.lib.size(f) >= 4<<20 {
				large++
			}
		}
		var err error
		op := w.rng.IntN(100)
		switch {
		case len(files) < 8 || op < 18: // add a small file
			d := spec.folders[w.rng.IntN(len(spec.folders))]
			rel := w.putNew(d, w.smallSize())
			did = append(did, "add "+rel)
		case op < 22 && large < spec.large+2: // add a large file
			d := spec.folders[w.rng.IntN(len(spec.folders))]
			rel := w.putNew(d, w.largeSize(spec))
			did = append(did, "add large "+rel)
		case op < 45: // replace: same size (a patched ROM) or a new size
			rel := pick()
			size := w.lib.size(rel)
			if w.rng.IntN(3) == 0 || size == 0 {
				if size >= 4<<20 {
					size = w.largeSize(spec)
				} else {
					size = w.smallSize()
				}
			}
			err = w.lib.put(rel, content(w.rng.Uint64(), size))
			did = append(did, fmt.Sprintf("replace %s (%d B)", rel, size))
		case op < 60: // delete
			if large <= 1 && w.lib.size(files[0]) >= 4<<20 {
				continue
			}
			rel := pick()
			err = w.lib.remove(rel)
			did = append(did, "delete "+rel)
		case op < 73: // rename in its folder
			rel := pick()
			to := w.romName(path.Dir(rel))
			err = w.lib.rename(rel, to)
			did = append(did, "rename "+rel+" -> "+to)
		case op < 85: // move to another folder
			rel := pick()
			to := w.romName(spec.folders[w.rng.IntN(len(spec.folders))])
			err = w.lib.rename(rel, to)
			did = append(did, "move "+rel+" -> "+to)
		case op < 90 && len(dirs) > 2: // rename a folder that is not a platform root
			from := dirs[w.rng.IntN(len(dirs))]
			if !strings.Contains(from, "/") {
				// Platform folders keep their names; rename a subfolder
				// by making one first.
				to := from + "/Hacks " + strconv.Itoa(w.nameN)
				rel := pick()
				err = w.lib.rename(rel, to+"/"+path.Base(rel))
				did = append(did, "move "+rel+" into new folder "+to)
				break
			}
			to := path.Dir(from) + "/Renamed " + strconv.Itoa(w.rng.IntN(1e6))
			err = w.lib.renameDir(from, to)
			did = append(did, "rename folder "+from+" -> "+to)
		case op < 94 && len(dirs) > 2: // delete a subfolder, or a whole platform folder with few files
			d := dirs[w.rng.IntN(len(dirs))]
			cnt := 0
			for _, f := range files {
				if strings.HasPrefix(f, d+"/") {
					cnt++
				}
			}
			if cnt*3 > len(files) {
				continue // stay well below max_delete
			}
			err = w.lib.removeDir(d)
			did = append(did, "delete folder "+d)
		default: // a new folder with a few files
			d := spec.folders[w.rng.IntN(len(spec.folders))] + "/Translations " + strconv.Itoa(w.nameN)
			for range 1 + w.rng.IntN(3) {
				w.putNew(d, w.smallSize())
			}
			did = append(did, "new folder "+d)
		}
		if err != nil {
			w.t.Fatalf("mutate: %v", err)
		}
	}
	return did
}

// plantUserFiles puts what a user and a handheld leave on a card next to
// the ROMs: a save next to a ROM, a device dot-folder, an Imgs folder at
// the root. The checker proves romsyncd never changes or removes them.
func (w *world) plantUserFiles() {
	w.t.Helper()
	for _, dir := range []string{"GBA", "GB"} {
		game := "Some Game (USA)"
		for _, rel := range w.lib.files() {
			if path.Dir(rel) == dir {
				game = strings.TrimSuffix(path.Base(rel), path.Ext(rel))
				break
			}
		}
		w.plant(dir+"/"+game+".srm", content(w.rng.Uint64(), 8192))
		w.plant(dir+"/."+game+"/state.auto", content(w.rng.Uint64(), 3000))
	}
	w.plant("Imgs/Some Game (USA).png", content(w.rng.Uint64(), 2048))
}

// plant creates a user file on the target (and its folders, as user folders).
func (w *world) plant(rel string, data []byte) {
	w.t.Helper()
	p := filepath.Join(w.target, filepath.FromSlash(rel))
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if _, ok := w.user[d]; !ok {
			if _, err := os.Lstat(filepath.Join(w.target, filepath.FromSlash(d))); errors.Is(err, fs.ErrNotExist) {
				w.user[d] = userEntry{dir: true}
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.user[rel] = userEntry{ver: versionOf(data)}
}

// plantLink creates a symlink on the target that the user put there.
func (w *world) plantLink(rel, to string) {
	w.t.Helper()
	p := filepath.Join(w.target, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Symlink(to, p); err != nil {
		w.t.Fatal(err)
	}
	w.user[rel] = userEntry{link: to}
}

// resetTarget removes the target and the profile's state: the next pass is
// a profile's very first.
func (w *world) resetTarget() {
	w.t.Helper()
	if err := os.RemoveAll(w.target); err != nil {
		w.t.Fatal(err)
	}
	if err := os.RemoveAll(w.state); err != nil {
		w.t.Fatal(err)
	}
	w.user = map[string]userEntry{}
}

// syncBuffer is a bytes.Buffer safe for a process's output.
type syncBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running romsyncd.
type proc struct {
	t       *testing.T
	args    []string
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	done    chan struct{}
	started time.Time
	ended   time.Time
}

// exit is how a process ended.
type exit struct {
	code int            // -1 when killed by a signal
	sig  syscall.Signal // the signal that killed it, or 0
}

func (e exit) String() string {
	if e.sig != 0 {
		return "killed by " + e.sig.String()
	}
	return "exit " + strconv.Itoa(e.code)
}

// start runs the binary with args (the config is added) in w's confined
// environment.
func (w *world) start(args ...string) *proc {
	w.t.Helper()
	return startBin(w.t, w.dir, w.env(), append(args, "--config", w.cfg)...)
}

func startBin(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start romsyncd %q: %v", args, err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.ended = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if p.running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to end, failing the test after timeout (the
// process is then killed: a hang is a finding, reported with its output).
func (p *proc) wait(timeout time.Duration) (exit, bool) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump on stderr
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		return p.exit(), false
	}
	return p.exit(), true
}

func (p *proc) exit() exit {
	st := p.cmd.ProcessState
	if st == nil {
		return exit{code: -1}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exit{code: -1, sig: ws.Signal()}
	}
	return exit{code: st.ExitCode()}
}

func (p *proc) output() string {
	return fmt.Sprintf("romsyncd %q:\nstdout:\n%s\nstderr:\n%s", p.args, tail(p.stdout.String(), 4000), tail(p.stderr.String(), 8000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// report is romsyncd's --json report of one profile's pass.
type report struct {
	Profile     string `json:"profile"`
	Created     bool   `json:"created_target"`
	Copied      int    `json:"copied"`
	CopiedBytes int64  `json:"copied_bytes"`
	Replaced    int    `json:"replaced"`
	Renamed     int    `json:"renamed"`
	Deleted     int    `json:"deleted"`
	Unchanged   int    `json:"unchanged"`
	Conflicts   []item `json:"conflicts"`
	Skipped     []item `json:"skipped"`
	Errors      []item `json:"errors"`
	DeletesHeld string `json:"deletes_held"`
	Error       string `json:"error"`
	InSync      bool   `json:"in_sync"`
}

type item struct {
	Path   string `json:"path"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// result is one finished run of the binary.
type result struct {
	exit
	stdout, stderr string
	reports        []report
	dur            time.Duration
	finished       bool // ended by itself within the timeout
}

// run runs romsyncd with args to completion (or timeout).
func (w *world) run(timeout time.Duration, args ...string) result {
	w.t.Helper()
	p := w.start(args...)
	return p.result(timeout)
}

func (p *proc) result(timeout time.Duration) result {
	e, ok := p.wait(timeout)
	r := result{exit: e, stdout: p.stdout.String(), stderr: p.stderr.String(), dur: p.ended.Sub(p.started), finished: ok}
	for _, line := range strings.Split(r.stdout, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rep report
		if err := json.Unmarshal([]byte(line), &rep); err == nil {
			r.reports = append(r.reports, rep)
		}
	}
	return r
}

// sync runs `romsyncd sync --json` to completion and fails the test unless
// it exits 0 with an in-sync report.
func (w *world) sync(label string) result {
	w.t.Helper()
	r := w.run(2*time.Minute, "sync", "--json")
	if !r.finished || r.code != 0 || len(r.reports) != 1 || !r.reports[0].InSync {
		w.t.Errorf("%s: romsyncd sync: %v (finished %v), want exit 0 and in sync\nstdout:\n%s\nstderr:\n%s", label, r.exit, r.finished, tail(r.stdout, 4000), tail(r.stderr, 4000))
	}
	return r
}

// daemon is a running `romsyncd run`.
type daemon struct {
	*proc
	w *world
}

// startDaemon starts `romsyncd run` and waits until its control socket
// answers.
func (w *world) startDaemon() *daemon {
	w.t.Helper()
	d := &daemon{proc: w.start("run", "--log-level", "debug"), w: w}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := status.GetStatus(ctx, w.sock)
		cancel()
		if err == nil {
			return d
		}
		if !d.running() || time.Now().After(deadline) {
			e, _ := d.wait(5 * time.Second)
			w.t.Fatalf("daemon did not come up (%v): %v\n%s", e, err, d.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects exit 0 within 20 s.
func (d *daemon) stop(label string) exit {
	d.w.t.Helper()
	d.signal(syscall.SIGTERM)
	e, ok := d.wait(20 * time.Second)
	if !ok || e.code != 0 {
		d.w.t.Errorf("%s: daemon after SIGTERM: %v (stopped in time: %v), want exit 0\n%s", label, e, ok, d.output())
	}
	return e
}

// count returns how many times s occurs in the daemon's log.
func (d *daemon) count(s string) int { return strings.Count(d.stderr.String(), s) }

// waitFor polls cond every few milliseconds until it holds or the deadline
// passes; it reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

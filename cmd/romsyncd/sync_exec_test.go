package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The end-to-end tests here check what a script cannot say well: the JSON
// report's fields, inodes and mtimes, a lock held by another process, a
// signal, a terminal. Each one runs the real binary (see TestMain).

// report holds the fields of `romsyncd sync --json` that the tests read.
type report struct {
	Profile     string `json:"profile"`
	Copied      int    `json:"copied"`
	CopiedBytes int64  `json:"copied_bytes"`
	Replaced    int    `json:"replaced"`
	Deleted     int    `json:"deleted"`
	Unchanged   int    `json:"unchanged"`
	HashedBytes int64  `json:"hashed_bytes"`
	Errors      []item `json:"errors"`
	Conflicts   []item `json:"conflicts"`
	Skipped     []item `json:"skipped"`
	Error       string `json:"error"`
	InSync      bool   `json:"in_sync"`
}

type item struct {
	Path   string `json:"path"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// reportFields are the keys every JSON report carries, empty or not.
var reportFields = []string{"profile", "copied", "copied_bytes", "deleted", "unchanged",
	"hashed_bytes", "errors", "conflicts", "skipped", "in_sync"}

// parseReports decodes one JSON object per line, checking that each has
// every field of reportFields (lists as lists, never null).
func parseReports(t *testing.T, stdout string) map[string]report {
	t.Helper()
	out := map[string]report{}
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("stdout line is not one JSON object: %v\n%s", err, line)
		}
		for _, k := range reportFields {
			v, ok := raw[k]
			if !ok {
				t.Errorf("report lacks %q: %s", k, line)
			}
			if (k == "errors" || k == "conflicts" || k == "skipped") && !bytes.HasPrefix(v, []byte("[")) {
				t.Errorf("report field %q is %s, want a list", k, v)
			}
		}
		var r report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[r.Profile]; dup {
			t.Errorf("two reports for profile %s", r.Profile)
		}
		out[r.Profile] = r
	}
	return out
}

const twoProfiles = `profiles:
  - name: gba
    source: lib
    target: sd-gba
    layout: onion
    only: [gba]
  - name: gb
    source: lib
    target: sd-gb
    layout: onion
    only: [gb]
`

var library = map[string]string{
	"lib/Nintendo - Game Boy Advance/Alpha (USA).gba":   "alpha v1\n",  // 9 bytes
	"lib/Nintendo - Game Boy Advance/Beta (Europe).gba": "beta\n",      // 5 bytes
	"lib/Nintendo - Game Boy/Gamma (Japan).gb":          "gamma\n",     // 6 bytes
	"lib/Nintendo - Game Boy/Delta (World).gb":          "delta rom\n", // 10 bytes
}

// TestSyncJSON checks the JSON report: one object per line per profile,
// every field there, the counts of a first pass, of a no-op pass (nothing
// copied, nothing hashed), of a conflict and of a skipped file.
func TestSyncJSON(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, library)
	writeTree(t, dir, map[string]string{"config.yaml": twoProfiles})

	res := romsyncd(t, dir, "sync", "--config", "config.yaml", "--json")
	if res.code != 0 {
		t.Fatalf("first pass: exit %d, want 0", res.code)
	}
	reps := parseReports(t, res.stdout)
	if len(reps) != 2 {
		t.Fatalf("got %d reports, want one per profile (2)", len(reps))
	}
	for name, want := range map[string]report{
		"gba": {Copied: 2, CopiedBytes: 14},
		"gb":  {Copied: 2, CopiedBytes: 16},
	} {
		got := reps[name]
		if got.Copied != want.Copied || got.CopiedBytes != want.CopiedBytes || got.Unchanged != 0 || got.Deleted != 0 || !got.InSync {
			t.Errorf("first pass of %s: %+v, want copied %d (%d bytes), in sync", name, got, want.Copied, want.CopiedBytes)
		}
		// Every byte is hashed while it is copied and again when it is
		// read back from the target.
		if got.HashedBytes < 2*want.CopiedBytes {
			t.Errorf("first pass of %s: hashed_bytes %d, want at least %d", name, got.HashedBytes, 2*want.CopiedBytes)
		}
	}

	res = romsyncd(t, dir, "sync", "--config", "config.yaml", "--json")
	if res.code != 0 {
		t.Fatalf("second pass: exit %d, want 0", res.code)
	}
	for name, got := range parseReports(t, res.stdout) {
		if got.Copied != 0 || got.CopiedBytes != 0 || got.HashedBytes != 0 || got.Unchanged != 2 || !got.InSync {
			t.Errorf("no-op pass of %s: %+v, want copied 0, hashed_bytes 0, unchanged 2, in sync", name, got)
		}
	}

	// A file in the way (conflict) for gba; a link out of the library
	// (skipped) for gb: both passes run, neither profile is in sync.
	writeTree(t, dir, map[string]string{
		"lib/Nintendo - Game Boy Advance/Epsilon (USA).gba": "epsilon\n",
		"sd-gba/GBA/Epsilon (USA).gba":                      "the user's own file\n",
		"elsewhere.gb":                                      "outside\n",
	})
	if err := os.Symlink(filepath.Join(dir, "elsewhere.gb"), filepath.Join(dir, "lib/Nintendo - Game Boy/Link.gb")); err != nil {
		t.Fatal(err)
	}
	res = romsyncd(t, dir, "sync", "--config", "config.yaml", "--json")
	if res.code != 1 {
		t.Fatalf("pass with a conflict and a skipped file: exit %d, want 1", res.code)
	}
	reps = parseReports(t, res.stdout)
	gba, gb := reps["gba"], reps["gb"]
	if gba.InSync || len(gba.Conflicts) != 1 || gba.Conflicts[0].Path != "Nintendo - Game Boy Advance/Epsilon (USA).gba" ||
		gba.Conflicts[0].Target != "GBA/Epsilon (USA).gba" || gba.Conflicts[0].Reason == "" || gba.Copied != 0 {
		t.Errorf("gba with a conflict: %+v", gba)
	}
	if gb.InSync || len(gb.Skipped) != 1 || gb.Skipped[0].Path != "Nintendo - Game Boy/Link.gb" || gb.Skipped[0].Reason == "" {
		t.Errorf("gb with a link out of the library: %+v", gb)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "sd-gba/GBA/Epsilon (USA).gba")); err != nil || string(data) != "the user's own file\n" {
		t.Errorf("the file in the way was touched: %q, %v", data, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sd-gb/GB/Link.gb")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link out of the library reached the target: %v", err)
	}
}

// fileID is what a rewrite of a file would change.
type fileID struct {
	ino   uint64
	mtime time.Time
	size  int64
}

func identify(t *testing.T, p string) fileID {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fileID{ino: info.Sys().(*syscall.Stat_t).Ino, mtime: info.ModTime(), size: info.Size()}
}

// TestNoOpPassTouchesNothing checks that a pass over an unchanged library
// rewrites no file (same inode, same mtime), that a replaced library file
// gets a new file on the target, and that installed files carry the
// library file's mtime.
func TestNoOpPassTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, library)
	writeTree(t, dir, map[string]string{"config.yaml": "profiles:\n  - {name: gba, source: lib, target: sd, layout: onion}\n"})
	old := time.Date(2001, 6, 11, 12, 0, 0, 0, time.UTC)
	for rel := range library {
		if err := os.Chtimes(filepath.Join(dir, rel), old, old); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"sd/GBA/Alpha (USA).gba":   "lib/Nintendo - Game Boy Advance/Alpha (USA).gba",
		"sd/GBA/Beta (Europe).gba": "lib/Nintendo - Game Boy Advance/Beta (Europe).gba",
		"sd/GB/Gamma (Japan).gb":   "lib/Nintendo - Game Boy/Gamma (Japan).gb",
		"sd/GB/Delta (World).gb":   "lib/Nintendo - Game Boy/Delta (World).gb",
	}
	if res := romsyncd(t, dir, "sync", "--config", "config.yaml"); res.code != 0 {
		t.Fatalf("first pass: exit %d", res.code)
	}
	before := map[string]fileID{}
	for tgt, src := range files {
		before[tgt] = identify(t, filepath.Join(dir, tgt))
		if !before[tgt].mtime.Equal(old) {
			t.Errorf("%s has mtime %s, want the library's %s", tgt, before[tgt].mtime, old)
		}
		want, _ := os.ReadFile(filepath.Join(dir, src))
		if got, _ := os.ReadFile(filepath.Join(dir, tgt)); !bytes.Equal(got, want) {
			t.Errorf("%s holds %q, want %q", tgt, got, want)
		}
	}

	if res := romsyncd(t, dir, "sync", "--config", "config.yaml"); res.code != 0 || !strings.Contains(res.stdout, "0 copied (0 B, 0 replaced), 0 renamed, 0 deleted, 4 unchanged") {
		t.Fatalf("no-op pass: exit %d, stdout %q", res.code, res.stdout)
	}
	for tgt := range files {
		if got := identify(t, filepath.Join(dir, tgt)); got != before[tgt] {
			t.Errorf("no-op pass rewrote %s: %+v, was %+v", tgt, got, before[tgt])
		}
	}

	// The library's Alpha is replaced by another version.
	writeTree(t, dir, map[string]string{"lib/Nintendo - Game Boy Advance/Alpha (USA).gba": "alpha, second version\n"})
	res := romsyncd(t, dir, "sync", "--config", "config.yaml", "--json")
	if res.code != 0 {
		t.Fatalf("pass after a replace: exit %d", res.code)
	}
	if r := parseReports(t, res.stdout)["gba"]; r.Copied != 1 || r.Replaced != 1 || r.Unchanged != 3 {
		t.Errorf("pass after a replace: %+v, want copied 1, replaced 1, unchanged 3", r)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "sd/GBA/Alpha (USA).gba")); string(got) != "alpha, second version\n" {
		t.Errorf("replaced file holds %q", got)
	}
	if got := identify(t, filepath.Join(dir, "sd/GBA/Alpha (USA).gba")); got.ino == before["sd/GBA/Alpha (USA).gba"].ino {
		t.Errorf("the replaced file was written in place (same inode), not installed by rename")
	}
	for tgt := range files {
		if tgt == "sd/GBA/Alpha (USA).gba" {
			continue
		}
		if got := identify(t, filepath.Join(dir, tgt)); got != before[tgt] {
			t.Errorf("replacing Alpha rewrote %s", tgt)
		}
	}
}

// TestInitAdoptsWithoutCopying checks that the files init adopts stay the
// very files that were on the card: sync does not copy them again.
func TestInitAdoptsWithoutCopying(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, library)
	writeTree(t, dir, map[string]string{
		"config.yaml":              "profiles:\n  - {name: gba, source: lib, target: sd, layout: onion}\n",
		"sd/GBA/Alpha (USA).gba":   library["lib/Nintendo - Game Boy Advance/Alpha (USA).gba"],
		"sd/GBA/Beta (Europe).gba": library["lib/Nintendo - Game Boy Advance/Beta (Europe).gba"],
	})
	alpha, beta := identify(t, filepath.Join(dir, "sd/GBA/Alpha (USA).gba")), identify(t, filepath.Join(dir, "sd/GBA/Beta (Europe).gba"))

	res := romsyncd(t, dir, "init", "--config", "config.yaml", "--profile", "gba", "--json")
	if res.code != 0 {
		t.Fatalf("init: exit %d", res.code)
	}
	var adopted struct {
		Adopted int  `json:"adopted"`
		InSync  bool `json:"in_sync"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &adopted); err != nil || adopted.Adopted != 2 || !adopted.InSync {
		t.Errorf("init report: %+v (%v), want adopted 2, in sync", adopted, err)
	}

	res = romsyncd(t, dir, "sync", "--config", "config.yaml", "--json")
	if res.code != 0 {
		t.Fatalf("sync after init: exit %d", res.code)
	}
	if r := parseReports(t, res.stdout)["gba"]; r.Copied != 2 || r.Unchanged != 2 {
		t.Errorf("sync after init: %+v, want the 2 GB games copied and the 2 adopted ones unchanged", r)
	}
	if got := identify(t, filepath.Join(dir, "sd/GBA/Alpha (USA).gba")); got != alpha {
		t.Errorf("adopted Alpha was copied again")
	}
	if got := identify(t, filepath.Join(dir, "sd/GBA/Beta (Europe).gba")); got != beta {
		t.Errorf("adopted Beta was copied again")
	}
}

// TestTargetBusy checks that a target locked by another romsyncd process is
// refused with exit 3, and synced once the lock is gone.
func TestTargetBusy(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, library)
	writeTree(t, dir, map[string]string{"config.yaml": "profiles:\n  - {name: gba, source: lib, target: sd, layout: onion}\n"})
	if res := romsyncd(t, dir, "sync", "--config", "config.yaml"); res.code != 0 {
		t.Fatalf("first pass: exit %d", res.code)
	}
	writeTree(t, dir, map[string]string{"lib/Nintendo - Game Boy Advance/Epsilon (USA).gba": "epsilon\n"})

	lock, err := os.OpenFile(filepath.Join(dir, "sd/.romsyncd/lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	res := romsyncd(t, dir, "sync", "--config", "config.yaml")
	if res.code != 3 || !strings.Contains(res.stderr, "target in use by another romsyncd") {
		t.Errorf("sync of a locked target: exit %d, stderr %q; want 3 and \"target in use by another romsyncd\"", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "sd/GBA/Epsilon (USA).gba")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a locked target was written: %v", err)
	}

	if err := unix.Flock(int(lock.Fd()), unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if res := romsyncd(t, dir, "sync", "--config", "config.yaml"); res.code != 0 || !strings.Contains(res.stdout, "gba: 1 copied") {
		t.Errorf("sync after the lock is released: exit %d, stdout %q", res.code, res.stdout)
	}
}

// TestInterrupted sends SIGINT while a pass copies: romsyncd exits 130,
// leaves no temp file and no partial file under a final name, and the next
// pass finishes the job.
func TestInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"config.yaml": "profiles:\n  - {name: psx, source: lib, target: sd, workers: 1}\n"})
	// Sparse library files: big enough that the pass is still copying when
	// the signal lands, cheap to create.
	const size = 64 << 20
	names := []string{"a.bin", "b.bin", "c.bin"}
	for _, n := range names {
		p := filepath.Join(dir, "lib", "psx", n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command("romsyncd", "sync", "--config", "config.yaml")
	cmd.Dir = dir
	cmd.Env = baseEnv(dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Poll (no fixed sleep) until the first temp file shows the copy in flight.
	deadline := time.After(20 * time.Second)
	for len(temps(filepath.Join(dir, "sd"))) == 0 {
		select {
		case err := <-exited:
			t.Fatalf("romsyncd ended before any copy was seen (%v)\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no temp file within 20 s\nstderr:\n%s", &stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("romsyncd did not stop within 20 s of SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("interrupted sync: %v, want exit status 130\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	if tf := temps(filepath.Join(dir, "sd")); len(tf) > 0 {
		t.Errorf("temp files left after SIGINT: %v", tf)
	}
	for _, n := range names {
		if info, err := os.Stat(filepath.Join(dir, "sd", "psx", n)); err == nil && info.Size() != size {
			t.Errorf("%s under its final name has %d bytes, want %d", n, info.Size(), size)
		}
	}

	res := romsyncd(t, dir, "sync", "--config", "config.yaml", "--json")
	if res.code != 0 {
		t.Fatalf("pass after the interrupted one: exit %d", res.code)
	}
	if r := parseReports(t, res.stdout)["psx"]; r.Copied+r.Unchanged != len(names) || r.Copied == 0 {
		t.Errorf("pass after the interrupted one: %+v, want the rest of the %d files copied", r, len(names))
	}
	for _, n := range names {
		if err := sameContent(filepath.Join(dir, "lib", "psx", n), filepath.Join(dir, "sd", "psx", n)); err != nil {
			t.Error(err)
		}
	}
}

func sameContent(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ra, rb := bufio.NewReaderSize(fa, 1<<20), bufio.NewReaderSize(fb, 1<<20)
	bufA, bufB := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; {
		na, ea := io.ReadFull(ra, bufA)
		nb, eb := io.ReadFull(rb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return fmt.Errorf("%s and %s differ after offset %d", a, b, off)
		}
		off += int64(na)
		if ea != nil || eb != nil {
			if (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("compare %s and %s: %v, %v", a, b, ea, eb)
		}
	}
}

// openPTY opens a pseudo-terminal pair (controller, terminal).
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		ptmx.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return ptmx, tty
}

// syncOnTerminal runs `romsyncd sync args...` in dir with stdout on a
// terminal and returns what the terminal showed.
func syncOnTerminal(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ptmx, tty := openPTY(t)
	defer ptmx.Close()
	cmd := exec.Command("romsyncd", append([]string{"sync"}, args...)...)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it; reading ends when the child exits
	shown := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(ptmx) // ends with EIO once no one holds the terminal
		shown <- data
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sync on a terminal: %v\nstderr:\n%s", err, &stderr)
	}
	out := <-shown
	t.Logf("terminal:\n%q", out)
	return string(out)
}

// TestProgressBar checks that the progress bar is drawn on a terminal, and
// is not drawn for --json (nor, per the scripts' "! stdout '\r'", when
// stdout is not a terminal).
func TestProgressBar(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, library)
	writeTree(t, dir, map[string]string{"config.yaml": "profiles:\n  - {name: gba, source: lib, target: sd, layout: onion}\n"})
	out := syncOnTerminal(t, dir, "--config", "config.yaml")
	if !strings.Contains(out, "\r\x1b[Kgba [") || !strings.Contains(out, "/4 files") {
		t.Errorf("no progress bar on a terminal: %q", out)
	}
	if !strings.Contains(out, "gba: 4 copied") {
		t.Errorf("no summary on a terminal: %q", out)
	}

	writeTree(t, dir, map[string]string{"lib/Nintendo - Game Boy Advance/Epsilon (USA).gba": "epsilon\n"})
	out = syncOnTerminal(t, dir, "--config", "config.yaml", "--json")
	if strings.Contains(out, "\x1b[K") {
		t.Errorf("progress bar drawn into --json output: %q", out)
	}
	if !strings.Contains(out, `"copied":1`) {
		t.Errorf("--json on a terminal: %q", out)
	}
}

// TestInstalledFileMode checks that an installed game is readable by
// everyone the library file is readable by: on a card formatted ext4 (or a
// local folder a frontend reads), the console's user is not romsyncd's.
func TestInstalledFileMode(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, library)
	writeTree(t, dir, map[string]string{"config.yaml": "profiles:\n  - {name: gba, source: lib, target: sd, layout: onion}\n"})
	if res := romsyncd(t, dir, "sync", "--config", "config.yaml"); res.code != 0 {
		t.Fatalf("sync: exit %d", res.code)
	}
	info, err := os.Stat(filepath.Join(dir, "sd/GBA/Alpha (USA).gba"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o044 != 0o044 {
		t.Errorf("installed file has mode %v; the library file's is -rw-r--r--", info.Mode())
	}
}

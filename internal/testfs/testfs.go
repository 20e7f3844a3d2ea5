// Package testfs mounts real tmpfs, exFAT and FAT32 filesystems for tests.
//
// Each helper mounts a fresh filesystem under t.TempDir(), waits until the
// mount is visible in /proc/self/mountinfo and registers a Cleanup that
// unmounts it (lazily when it stays busy) and releases any loop device.
//
// exFAT is served by exfat-fuse on a loop device and FAT32 by fusefat on the
// image file, because the kernel drivers are not available everywhere; both
// behave as FIELD-NOTES describes (case-insensitive, rejected characters,
// 1 s and 2 s timestamps).
//
// The helpers need root, /dev/fuse and the tools of the Debian packages
// util-linux (losetup), exfatprogs (mkfs.exfat), exfat-fuse (mount.exfat-fuse),
// dosfstools (mkfs.vfat) and fusefat. When one is missing the test is skipped
// with a message that says what to install; set ROMSYNCD_REQUIRE_MOUNTS=1 (as
// CI does) to make that a failure instead, so that a misconfigured runner
// cannot silently skip the filesystem tests.
//
// Helpers call t.Fatal and must be called from the test's goroutine.
package testfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequireEnv is the environment variable that turns a skip for a missing
// privilege or tool into a test failure.
const RequireEnv = "ROMSYNCD_REQUIRE_MOUNTS"

const (
	kindTmpfs = "tmpfs"
	kindExFAT = "exFAT"
	kindFAT32 = "FAT32"
)

// How long a mount may take to appear or disappear, and a tool to run.
const (
	settleTimeout = 10 * time.Second
	toolTimeout   = 60 * time.Second
	pollInterval  = 10 * time.Millisecond
)

// mount is what is needed to mount a filesystem at dir again.
type mount struct {
	kind  string
	dir   string
	size  string
	image string // exFAT, FAT32: the image file
	log   string // output of the mount tools
	loop  string // exFAT: the attached loop device, "" when detached

	mounted bool
}

var (
	mu     sync.Mutex
	mounts = map[string]*mount{} // by mount dir
)

// Tmpfs mounts a tmpfs of the given size (as mount(8) takes it: "48m", "1g",
// "10%") and returns its directory. A small tmpfs is the easy way to get a
// full disk (ENOSPC).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	requireRoot(t, kindTmpfs)
	m := &mount{kind: kindTmpfs, size: size}
	m.dir = mkdir(t, filepath.Join(t.TempDir(), "tmpfs"))
	start(t, m)
	return m.dir
}

// TmpfsAt mounts a tmpfs of the given size at dir, which the test owns (under
// one of its t.TempDir folders): dir and its missing parents are created. It
// is how a test builds a card mounted at a /media/USER/LABEL-like path.
func TmpfsAt(t testing.TB, dir, size string) string {
	t.Helper()
	requireRoot(t, kindTmpfs)
	m := &mount{kind: kindTmpfs, size: size, dir: mkdirAll(t, dir)}
	start(t, m)
	return m.dir
}

// ExFATAt is ExFAT mounted at dir, which the test owns (under one of its
// t.TempDir folders): dir and its missing parents are created.
func ExFATAt(t testing.TB, dir, size string) string {
	t.Helper()
	requireRoot(t, kindExFAT)
	requireFUSE(t, kindExFAT)
	mkfs := requireTool(t, kindExFAT, "mkfs.exfat", "exfatprogs")
	requireTool(t, kindExFAT, "mount.exfat-fuse", "exfat-fuse")
	requireTool(t, kindExFAT, "losetup", "util-linux")
	m := newImage(t, kindExFAT, size)
	m.dir = mkdirAll(t, dir)
	if err := run(m.log, mkfs, m.image); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	start(t, m)
	return m.dir
}

// ExFAT creates an exFAT image of the given size ("64M", "1G"; sparse),
// attaches it to a loop device and mounts it with exfat-fuse. It returns the
// mount directory.
func ExFAT(t testing.TB, size string) string {
	t.Helper()
	requireRoot(t, kindExFAT)
	requireFUSE(t, kindExFAT)
	mkfs := requireTool(t, kindExFAT, "mkfs.exfat", "exfatprogs")
	requireTool(t, kindExFAT, "mount.exfat-fuse", "exfat-fuse")
	requireTool(t, kindExFAT, "losetup", "util-linux")
	m := newImage(t, kindExFAT, size)
	if err := run(m.log, mkfs, m.image); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	start(t, m)
	return m.dir
}

// FAT32 creates a FAT32 image of the given size ("64M", "1G"; sparse; at least
// 64M, mkfs.vfat refuses FAT32 on less) and mounts it with fusefat. It returns
// the mount directory.
//
// Images up to 256 MiB get 1 KiB clusters instead of mkfs.vfat's 512 bytes:
// fusefat reports zero total and free blocks on volumes with 512-byte
// clusters, and real cards use 32 KiB.
func FAT32(t testing.TB, size string) string {
	t.Helper()
	requireRoot(t, kindFAT32)
	requireFUSE(t, kindFAT32)
	mkfs := requireTool(t, kindFAT32, "mkfs.vfat", "dosfstools")
	requireTool(t, kindFAT32, "fusefat", "fusefat")
	m := newImage(t, kindFAT32, size)
	args := []string{"-F", "32"}
	if n, _ := parseSize(size); n <= 256<<20 {
		args = append(args, "-s", "2")
	}
	if err := run(m.log, mkfs, append(args, m.image)...); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	start(t, m)
	return m.dir
}

// Unmount unmounts the filesystem that Tmpfs, ExFAT or FAT32 mounted at dir,
// as when a card is pulled. With lazy, it is detached at once even while files
// on it are open (umount -l); otherwise it fails the test when the mount stays
// busy. An exFAT image's loop device is detached as well (the kernel frees it
// once the last user closes it).
func Unmount(t testing.TB, dir string, lazy bool) {
	t.Helper()
	m := lookup(t, dir)
	if !m.mounted {
		t.Fatalf("testfs: unmount %s: not mounted", dir)
	}
	if err := m.unmount(lazy); err != nil {
		t.Fatalf("testfs: %v", err)
	}
}

// Remount mounts again at dir what Unmount unmounted: the same exFAT or FAT32
// image, with the files it held. A tmpfs comes back empty (its content died
// with the unmount), with the same size.
//
// After a lazy Unmount, the previous FUSE process keeps the image open until
// the last file opened on the old mount is closed; Remount waits up to 10 s for
// that so that two processes never write one image, then fails the test.
func Remount(t testing.TB, dir string) {
	t.Helper()
	m := lookup(t, dir)
	if m.mounted {
		t.Fatalf("testfs: remount %s: still mounted", dir)
	}
	if err := m.waitReleased(); err != nil {
		t.Fatalf("testfs: remount %s: %v", dir, err)
	}
	if err := m.mount(); err != nil {
		t.Fatalf("testfs: remount %s: %v", dir, err)
	}
}

// newImage prepares a mount with a sparse image file of size bytes.
func newImage(t testing.TB, kind, size string) *mount {
	t.Helper()
	n, err := parseSize(size)
	if err != nil {
		t.Fatalf("testfs: %s image: %v", kind, err)
	}
	tmp := t.TempDir()
	m := &mount{
		kind:  kind,
		size:  size,
		image: filepath.Join(tmp, strings.ToLower(kind)+".img"),
		log:   filepath.Join(tmp, "tools.log"),
		dir:   mkdir(t, filepath.Join(tmp, "mnt")),
	}
	f, err := os.Create(m.image)
	if err == nil {
		err = f.Truncate(n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("testfs: create image %s: %v", m.image, err)
	}
	return m
}

// start mounts m, registers it for Unmount/Remount and its cleanup.
func start(t testing.TB, m *mount) {
	t.Helper()
	// Registered after t.TempDir, so it runs before the directory is removed,
	// and before mounting, so that a mount that fails half-way is undone.
	t.Cleanup(func() {
		mu.Lock()
		delete(mounts, m.dir)
		mu.Unlock()
		if err := m.cleanup(); err != nil {
			t.Errorf("testfs: cleanup: %v", err)
		}
	})
	if err := m.mount(); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	mu.Lock()
	mounts[m.dir] = m
	mu.Unlock()
}

func lookup(t testing.TB, dir string) *mount {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	m, ok := mounts[filepath.Clean(dir)]
	if !ok {
		t.Fatalf("testfs: %s was not mounted by testfs", dir)
	}
	return m
}

// mount mounts m at m.dir and waits until mountinfo shows it.
func (m *mount) mount() error {
	var fstype string
	switch m.kind {
	case kindTmpfs:
		fstype = "tmpfs"
		if err := unix.Mount("tmpfs", m.dir, "tmpfs", 0, "size="+m.size); err != nil {
			return fmt.Errorf("mount tmpfs size=%s on %s: %w", m.size, m.dir, err)
		}
	case kindExFAT:
		fstype = "fuseblk"
		loop, err := output(m.log, "losetup", "-f", "--show", m.image)
		if err != nil {
			return err
		}
		m.loop = loop
		if err := run(m.log, "mount.exfat-fuse", m.loop, m.dir); err != nil {
			return errors.Join(err, m.detachLoop())
		}
	case kindFAT32:
		fstype = "fuse.fusefat"
		if err := run(m.log, "fusefat", "-o", "rw+", m.image, m.dir); err != nil {
			return err
		}
	}
	m.mounted = true
	if err := waitMount(m.dir, fstype, true); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.kind, m.dir, err)
	}
	return nil
}

// unmount unmounts m.dir: lazily at once, or normally with retries while the
// mount is busy. It then detaches an exFAT loop device.
func (m *mount) unmount(lazy bool) error {
	if err := unmountDir(m.dir, lazy); err != nil {
		return err
	}
	m.mounted = false
	return m.detachLoop()
}

// cleanup unmounts m if it is still mounted (lazily when busy) and waits until
// the image and its loop device are released.
func (m *mount) cleanup() error {
	if m.mounted {
		err := unmountDir(m.dir, false)
		if errors.Is(err, unix.EBUSY) {
			err = unmountDir(m.dir, true)
		}
		if err != nil {
			return err
		}
		m.mounted = false
	}
	if err := m.detachLoop(); err != nil {
		return err
	}
	return m.waitReleased()
}

// detachLoop detaches the exFAT loop device. A device still held open (a
// lazily unmounted exfat-fuse) is set to auto-clear by the kernel instead.
func (m *mount) detachLoop() error {
	if m.loop == "" {
		return nil
	}
	if err := run(m.log, "losetup", "-d", m.loop); err != nil {
		return err
	}
	m.loop = ""
	return nil
}

// waitReleased waits until no loop device is backed by m.image and no process
// holds m.image open, so that the image can be mounted again safely.
func (m *mount) waitReleased() error {
	if m.image == "" {
		return nil
	}
	deadline := time.Now().Add(settleTimeout)
	for {
		holder := imageHolder(m.image)
		if holder == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("image %s still held by %s after %v: close the files opened on the unmounted filesystem", m.image, holder, settleTimeout)
		}
		time.Sleep(pollInterval)
	}
}

// imageHolder returns a loop device or process that holds image, or "".
func imageHolder(image string) string {
	if loop := loopOf(image); loop != "" {
		return loop
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == image {
			return "process " + strings.Split(fd, "/")[2]
		}
	}
	return ""
}

// loopOf returns the loop device backed by image, or "".
func loopOf(image string) string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		backing := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if backing == image {
			return "/dev/" + strings.Split(f, "/")[3]
		}
	}
	return ""
}

// unmountDir unmounts dir and waits until mountinfo no longer shows it. A
// normal unmount is retried while it reports EBUSY (a FUSE daemon that still
// finishes a request) for up to settleTimeout.
func unmountDir(dir string, lazy bool) error {
	flags := 0
	if lazy {
		flags = unix.MNT_DETACH
	}
	deadline := time.Now().Add(settleTimeout)
	for {
		err := unix.Unmount(dir, flags)
		if err == nil || errors.Is(err, unix.EINVAL) && !isMounted(dir) {
			break
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		time.Sleep(pollInterval)
	}
	if err := waitMount(dir, "", false); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// waitMount waits until mountinfo shows (want) or no longer shows a mount at
// dir; with want and a non-empty fstype, the mount must have that type.
func waitMount(dir, fstype string, want bool) error {
	deadline := time.Now().Add(settleTimeout)
	for {
		got, err := mountType(dir)
		if err != nil {
			return err
		}
		switch {
		case want && got != "" && (fstype == "" || got == fstype):
			return nil
		case !want && got == "":
			return nil
		}
		if time.Now().After(deadline) {
			if want {
				return fmt.Errorf("mount of type %s not visible in mountinfo after %v (found %q)", fstype, settleTimeout, got)
			}
			return fmt.Errorf("still in mountinfo after %v", settleTimeout)
		}
		time.Sleep(pollInterval)
	}
}

func isMounted(dir string) bool {
	got, err := mountType(dir)
	return err == nil && got != ""
}

// mountType returns the filesystem type of the topmost mount at exactly dir,
// or "" when nothing is mounted there.
func mountType(dir string) (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	typ := ""
	for line := range strings.Lines(string(b)) {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			continue
		}
		if unescapeOctal(fields[4]) == dir {
			typ = fields[sep+1]
		}
	}
	return typ, nil
}

// unescapeOctal decodes the \NNN escapes the kernel writes for space, tab,
// newline and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// run runs a tool with its output appended to logPath, which the error quotes.
// Output goes to a file rather than a pipe because FUSE daemons fork into the
// background with the parent's stdout.
func run(logPath, name string, args ...string) error {
	_, err := execTool(logPath, false, name, args...)
	return err
}

// output runs a tool and returns its trimmed standard output.
func output(logPath, name string, args ...string) (string, error) {
	return execTool(logPath, true, name, args...)
}

func execTool(logPath string, capture bool, name string, args ...string) (string, error) {
	if logPath == "" {
		logPath = os.DevNull
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("open tool log %s: %w", logPath, err)
	}
	defer log.Close()
	off, _ := log.Seek(0, io.SeekEnd)
	fmt.Fprintf(log, "$ %s %s\n", name, strings.Join(args, " "))

	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	path, err := lookTool(name)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = log
	var out strings.Builder
	if capture {
		cmd.Stdout = &out
	} else {
		cmd.Stdout = log
	}
	err = cmd.Run()
	if err != nil {
		msg, _ := os.ReadFile(logPath)
		if int(off) <= len(msg) {
			msg = msg[off:]
		}
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(msg)))
	}
	return strings.TrimSpace(out.String()), nil
}

// lookTool finds a tool in PATH or in the sbin directories, which a root
// shell has in PATH but a test runner may not.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s: %w", name, exec.ErrNotFound)
}

// mkdir creates dir and returns it with symlinks resolved, as mountinfo
// shows it.
func mkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatalf("testfs: %v", err)
	}
	return resolved
}

// mkdirAll creates dir and its parents and returns it with symlinks
// resolved, as mountinfo shows it.
func mkdirAll(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testfs: %v", err)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatalf("testfs: %v", err)
	}
	return resolved
}

// parseSize parses "64M", "1G", "512k" or a byte count, with binary units.
func parseSize(s string) (int64, error) {
	num, shift := s, 0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		case 't', 'T':
			shift = 40
		}
		if shift != 0 {
			num = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("parse size %q: want a positive byte count with an optional K, M, G or T suffix", s)
	}
	return n << shift, nil
}

// skip skips the test, or fails it when RequireEnv is set.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set, so this is a failure)", msg, RequireEnv)
		return
	}
	t.Skip(msg)
}

func requireRoot(t testing.TB, kind string) {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "needs root to mount %s: run as root, CI does", kind)
	}
}

func requireFUSE(t testing.TB, kind string) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skip(t, "needs /dev/fuse to mount %s: install fuse3 and load the fuse module (%v)", kind, err)
	}
}

// requireTool returns the path of tool, or skips naming the Debian package.
func requireTool(t testing.TB, kind, tool, pkg string) string {
	t.Helper()
	p, err := lookTool(tool)
	if err != nil {
		skip(t, "needs %s to mount %s: apt-get install %s", tool, kind, pkg)
	}
	return p
}

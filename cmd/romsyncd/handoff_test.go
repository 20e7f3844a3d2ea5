package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDaemon runs `romsyncd run --config cfg` in dir with the confined
// environment and returns once its control socket answers; it is stopped
// (SIGTERM) when the test ends.
func startDaemon(t *testing.T, dir, cfg string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command("romsyncd", "run", "--config", cfg)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	sock := filepath.Join(dir, "run", "romsyncd.sock")
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return logs
		}
		select {
		case <-exited:
			t.Fatalf("romsyncd run exited early:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's socket %s never answered:\n%s", sock, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyncHandsOffOnlyToItsOwnDaemon: `sync --config X` asks a running
// daemon for the pass only when that daemon runs X and the profile; with a
// daemon of another configuration, or one that lacks the profile, it says so
// on one line and runs the pass itself (issue 10, point 3).
func TestSyncHandsOffOnlyToItsOwnDaemon(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"lib/gb/a.gb": "a",
		"a.yaml":      "state_dir: state-a\nprofiles:\n  - {name: muos, source: lib, target: card-a}\n",
		"b.yaml":      "state_dir: state-b\nprofiles:\n  - {name: example, source: lib, target: card-b}\n",
	})
	startDaemon(t, dir, "a.yaml")

	// Another configuration: the pass runs here.
	res := romsyncd(t, dir, "sync", "--config", "b.yaml", "-p", "example")
	if res.code != 0 || !strings.Contains(res.stdout, "example: 1 copied") {
		t.Errorf("sync --config b.yaml: exit %d, want 0 and the pass run here", res.code)
	}
	want := "romsyncd: the daemon at " + filepath.Join(dir, "run", "romsyncd.sock") + " runs " + filepath.Join(dir, "a.yaml") +
		", not " + filepath.Join(dir, "b.yaml") + "; running the pass here\n"
	if !strings.Contains(res.stderr, want) || strings.Contains(res.stderr, "the daemon ran the pass") {
		t.Errorf("sync --config b.yaml: stderr %q, want the line %q", res.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "card-b", "gb", "a.gb")); err != nil {
		t.Errorf("the pass did not fill card-b: %v", err)
	}

	// Its own configuration, named another way: the daemon runs the pass.
	res = romsyncd(t, dir, "sync", "--config", "./lib/../a.yaml", "-p", "muos")
	if res.code != 0 || !strings.Contains(res.stderr, "the daemon ran the pass") {
		t.Errorf("sync --config a.yaml: exit %d, stderr %q; want the daemon to run it", res.code, res.stderr)
	}

	// A profile the daemon does not run (added, no reload yet): here.
	writeTree(t, dir, map[string]string{
		"a.yaml": "state_dir: state-a\nprofiles:\n  - {name: muos, source: lib, target: card-a}\n  - {name: extra, source: lib, target: card-x}\n",
	})
	res = romsyncd(t, dir, "sync", "--config", "a.yaml", "-p", "extra")
	if res.code != 0 || !strings.Contains(res.stderr, "does not run profile extra") || !strings.Contains(res.stdout, "extra: 1 copied") {
		t.Errorf("sync -p extra: exit %d, stderr %q; want the pass run here", res.code, res.stderr)
	}
}

// TestSyncWithoutAUsableDaemonRunsHere: a socket nobody answers on (a
// daemon killed), or one this user may not open (another user's), is no
// reason to fail: sync says so on one line and runs the pass (issue 10,
// point 7).
func TestSyncWithoutAUsableDaemonRunsHere(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"lib/gb/a.gb": "a",
		"config.yaml": "state_dir: state\nprofiles:\n  - {name: one, source: lib, target: card}\n",
	})
	sock := filepath.Join(dir, "run", "romsyncd.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // a stale socket: ECONNREFUSED

	res := romsyncd(t, dir, "sync", "--config", "config.yaml")
	if res.code != 0 || !strings.Contains(res.stdout, "one: 1 copied") {
		t.Errorf("stale socket: exit %d, want 0 and the pass run here", res.code)
	}
	if want := "romsyncd: cannot use the daemon at " + sock + " (nothing answers on it); running the pass here\n"; res.stderr != want {
		t.Errorf("stale socket: stderr %q, want %q", res.stderr, want)
	}

	if os.Geteuid() == 0 {
		t.Skip("root opens any socket: the permission case needs a normal user")
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"lib/gb/b.gb": "b"})
	res = romsyncd(t, dir, "sync", "--config", "config.yaml")
	if res.code != 0 || !strings.Contains(res.stdout, "one: 1 copied") {
		t.Errorf("socket without permission: exit %d, want 0 and the pass run here", res.code)
	}
	if !strings.Contains(res.stderr, "permission denied") || !strings.Contains(res.stderr, "running the pass here") {
		t.Errorf("socket without permission: stderr %q", res.stderr)
	}
}

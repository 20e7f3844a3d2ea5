package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

var (
	buildOnce stdsync.Once
	builtBin  string
	buildErr  error
)

// romsyncdBinary builds the real binary once for the exec tests.
func romsyncdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "romsyncd-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "romsyncd")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type lockedBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitUntil polls cond until it holds. It gives up only near the test's
// own deadline (go test -timeout), not after a fixed time: a loaded CI
// machine under -race may take long, and that is no failure.
func waitUntil(t *testing.T, what string, logs fmt.Stringer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-10 * time.Second)
	}
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; daemon output:\n%s", what, logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func fileIs(p, content string) func() bool {
	return func() bool {
		data, err := os.ReadFile(p)
		return err == nil && string(data) == content
	}
}

func gone(p string) func() bool {
	return func() bool {
		_, err := os.Stat(p)
		return err != nil
	}
}

// TestRunBinary runs the real `romsyncd run`: changes in the library reach
// the card, SIGHUP adds a profile, SIGTERM during a large copy exits 0 and
// leaves no temp file.
func TestRunBinary(t *testing.T) {
	bin := romsyncdBinary(t)
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("/tmp", "rsx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	lib, card := filepath.Join(dir, "lib"), filepath.Join(dir, "card")
	lib2, card2 := filepath.Join(dir, "lib2"), filepath.Join(dir, "card2")
	for _, d := range []string{filepath.Join(lib, "gb"), filepath.Join(lib2, "nes")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, c string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(lib, "gb", "a.gb"), "a")
	write(filepath.Join(lib2, "nes", "n.nes"), "n")
	cfg := filepath.Join(dir, "config.yaml")
	base := fmt.Sprintf("state_dir: state\nsocket: %s/s.sock\nprofiles:\n  - {name: one, source: lib, target: card, debounce: 100ms}\n", sockDir)
	write(cfg, base)

	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = baseEnv(dir)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	waitUntil(t, "initial mirror", logs, fileIs(filepath.Join(card, "gb", "a.gb"), "a"))
	write(filepath.Join(lib, "gb", "b.gb"), "b")
	waitUntil(t, "added file", logs, fileIs(filepath.Join(card, "gb", "b.gb"), "b"))
	write(filepath.Join(lib, "gb", "a.gb"), "a2")
	waitUntil(t, "replaced file", logs, fileIs(filepath.Join(card, "gb", "a.gb"), "a2"))
	if err := os.Remove(filepath.Join(lib, "gb", "b.gb")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "deleted file", logs, gone(filepath.Join(card, "gb", "b.gb")))

	// `romsyncd status` talks to it.
	out, err := exec.Command(bin, "status", "--socket", filepath.Join(sockDir, "s.sock")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "one") {
		t.Fatalf("status: %v\n%s", err, out)
	}

	// SIGHUP with an added profile.
	write(cfg, base+"  - {name: two, source: lib2, target: card2, debounce: 100ms}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "profile added by SIGHUP", logs, fileIs(filepath.Join(card2, "nes", "n.nes"), "n"))

	// SIGTERM during a large copy: exit 0 within seconds, no temp file.
	inFlight := watchTemps(t, card)
	write(filepath.Join(lib, "psx", "big.bin"), strings.Repeat("x", 384<<20))
	select {
	case <-inFlight:
	case <-t.Context().Done():
		t.Fatalf("the large copy never started; daemon output:\n%s", logs)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("romsyncd run exited with %v after SIGTERM; output:\n%s", err, logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("romsyncd run did not stop within 15 s of SIGTERM")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s", d)
	}
	if tf := temps(card); len(tf) > 0 {
		t.Errorf("temp files left after SIGTERM: %v", tf)
	}
	if info, err := os.Stat(filepath.Join(card, "psx", "big.bin")); err == nil && info.Size() != 384<<20 {
		t.Errorf("big.bin under its final name has %d bytes", info.Size())
	}
}

// watchTemps returns a channel closed once a romsyncd temp file exists
// under root: the event that a copy is in flight. It watches root and every
// folder created in it (inotify, no polling), and looks again after adding
// each watch so that a file created just before is not missed.
func watchTemps(t *testing.T, root string) <-chan struct{} {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() {
		w.Close()
		<-done
	})
	if err := w.Add(root); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		signalled := false
		check := func() {
			if !signalled && len(temps(root)) > 0 {
				signalled = true
				close(found)
			}
		}
		check()
		for ev := range w.Events {
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = w.Add(ev.Name)
				}
				check()
			}
		}
	}()
	go func() {
		for range w.Errors {
		}
	}()
	return found
}

func temps(root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".romsyncd-") && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

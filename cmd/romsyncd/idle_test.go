package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestRunSaysWhyAProfileIsIdle: a daemon whose library is missing at start
// (a NAS down, a relative path resolved against /etc) logs one line for the
// profile saying why it is idle, not only "romsyncd running" (issue 10,
// points 3 and 8).
func TestRunSaysWhyAProfileIsIdle(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"config.yaml": "state_dir: state\nprofiles:\n  - {name: nas, source: missing-nas, target: card}\n",
	})
	cmd := exec.Command("romsyncd", "run", "--config", "config.yaml")
	cmd.Dir = dir
	cmd.Env = baseEnv(dir)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	line := regexp.MustCompile(`(?m)^.*level=WARN msg="profile paused" profile=nas err=".*source offline: .*` +
		regexp.QuoteMeta(filepath.Join(dir, "missing-nas")) + `.*$`)
	waitUntil(t, "the profile's idle reason in the log", logs, func() bool { return line.MatchString(logs.String()) })
	// The daemon retries every few seconds; the reason is not repeated.
	time.Sleep(6 * time.Second)
	if n := len(line.FindAllString(logs.String(), -1)); n != 1 {
		t.Errorf("the reason is logged %d times, want once:\n%s", n, logs)
	}
}

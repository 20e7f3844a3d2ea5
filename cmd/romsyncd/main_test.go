package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/targetfs"
)

// TestMain makes this test binary double as the romsyncd command (the
// way testscript.Main does): a link named romsyncd in a folder put first in
// $PATH runs main() in a process of its own, exit code and all. Tests and
// scripts exec "romsyncd" from $PATH.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "romsyncd" {
		if roots := os.Getenv(cardRootsEnv); roots != "" {
			targetfs.CardMountRoots = filepath.SplitList(roots)
		}
		main() // exits with romsyncd's exit code
	}
	os.Exit(runTests(m))
}

// cardRootsEnv, in the environment of a run of the test binary as
// romsyncd, replaces targetfs.CardMountRoots (a list like $PATH): tests make
// their own "/media" to mount cards under.
const cardRootsEnv = "ROMSYNCD_TEST_CARD_MOUNT_ROOTS"

func runTests(m *testing.M) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin, err := os.MkdirTemp("", "romsyncd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	if err := os.Symlink(exe, filepath.Join(bin, "romsyncd")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("PATH", bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
	return m.Run()
}

// confinedEnv keeps everything romsyncd reads from the environment (home,
// config and state folders, the daemon's socket) inside dir: with
// $RUNTIME_DIRECTORY set, romsyncd looks for no daemon anywhere else, so a
// daemon running on the machine never sees the tests' passes.
func confinedEnv(dir string) []string {
	return []string{
		"HOME=" + filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg-config"),
		"XDG_STATE_HOME=" + filepath.Join(dir, "xdg-state"),
		"RUNTIME_DIRECTORY=" + filepath.Join(dir, "run"),
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg-run"),
	}
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// romsyncd runs the real binary in dir, with an environment confined to
// dir, and returns its exit code and output.
func romsyncd(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return romsyncdEnv(t, dir, nil, args...)
}

// romsyncdEnv is romsyncd with env added to the confined environment.
func romsyncdEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "romsyncd", args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(dir), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("romsyncd %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, res.stdout, res.stderr)
	}
	t.Logf("romsyncd %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, res.code, res.stdout, res.stderr)
	return res
}

// baseEnv is the environment of a run in dir: $PATH (where TestMain linked
// the command), coverage, and confinedEnv.
func baseEnv(dir string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if d := os.Getenv("GOCOVERDIR"); d != "" {
		env = append(env, "GOCOVERDIR="+d)
	}
	return append(env, confinedEnv(dir)...)
}

// writeTree creates files (slash-separated path → content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/config"
)

// TestServiceConfig checks examples/service.yaml, the configuration the
// README installs for the service: it loads, names only absolute paths (a
// relative one would land under /etc/romsyncd), leaves state_dir out so the
// state goes to $STATE_DIRECTORY, and check-config says so (issue 10,
// point 8).
func TestServiceConfig(t *testing.T) {
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc", "romsyncd", "config.yaml")
	copyTree(t, filepath.Join("..", "..", "examples", "service.yaml"), etc)
	cfg, err := config.Load(etc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "" {
		t.Errorf("state_dir = %q, want none (the service's $STATE_DIRECTORY)", cfg.StateDir)
	}
	for _, p := range cfg.Profiles {
		for _, path := range []string{p.Source, p.Target} {
			if strings.HasPrefix(path, dir) {
				t.Errorf("profile %s: %s is relative to the config's folder", p.Name, path)
			}
		}
	}
	state := filepath.Join(dir, "var", "lib", "romsyncd")
	res := romsyncdEnv(t, dir, []string{"STATE_DIRECTORY=" + state}, "check-config", "--config", etc)
	if want := "state in " + state + "\n"; !strings.Contains(res.stdout, want) {
		t.Errorf("check-config does not say %q:\n%s", want, res.stdout)
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("check-config created the state folder")
	}
}

package status_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/romsyncd/romsyncd/status"
)

// TestStatusCarriesTheConfigFile: the status answer names the daemon's
// configuration file, so that `romsyncd sync --config X` can tell its own
// daemon from one running another file (issue 10, point 3).
func TestStatusCarriesTheConfigFile(t *testing.T) {
	dir := shortDir(t)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("profiles: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "run", "romsyncd.sock")
	srv, err := status.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetConfig(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ctx, &fakeProvider{status: []status.ProfileStatus{{Name: "muos"}}}) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	d, err := status.GetDaemon(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Config.Same(status.ConfigFileOf(cfg)) || d.Config.Path != cfg || d.Config.Ino == 0 {
		t.Errorf("daemon config = %+v, want %s with its inode", d.Config, cfg)
	}
	if !d.Runs("muos") || d.Runs("example") {
		t.Errorf("Runs: profiles %+v", d.Profiles)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(cfg, link); err != nil {
		t.Fatal(err)
	}
	if !d.Config.Same(status.ConfigFileOf(link)) {
		t.Errorf("a symlink to the daemon's file is not the same file")
	}
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte("profiles: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d.Config.Same(status.ConfigFileOf(other)) {
		t.Errorf("another file counts as the daemon's")
	}
	if (status.ConfigFile{}).Same(status.ConfigFileOf(other)) {
		t.Errorf("a daemon that names no file counts as running %s", other)
	}
}

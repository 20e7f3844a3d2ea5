package packaging_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/profiles"
)

// TestDefaultConfig loads the configuration the package installs as
// /etc/romsyncd/config.yaml the way the daemon does: it must be valid as
// shipped, use absolute paths only (a relative one would resolve against
// /etc/romsyncd) and keep the service's state in its StateDirectory.
func TestDefaultConfig(t *testing.T) {
	raw, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Load it from a copy elsewhere: relative paths would then show.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ROMSYNCD_STATE_DIR", "ROMSYNCD_SOCKET", "ROMSYNCD_LOG_LEVEL", "ROMSYNCD_METRICS_LISTEN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the packaged config does not load: %v", err)
	}
	if err := profiles.Check(cfg); err != nil {
		t.Fatalf("the packaged config's profiles: %v", err)
	}
	if cfg.StateDir != "/var/lib/romsyncd" {
		t.Errorf("state_dir %q, want /var/lib/romsyncd (the service's StateDirectory=romsyncd)", cfg.StateDir)
	}
	if len(cfg.Profiles) == 0 {
		t.Fatal("no profile")
	}
	var raws struct {
		Profiles []struct{ Source, Target string }
	}
	if err := yaml.Unmarshal(raw, &raws); err != nil {
		t.Fatal(err)
	}
	for _, p := range raws.Profiles {
		for _, dir := range []string{p.Source, p.Target} {
			if !filepath.IsAbs(dir) {
				t.Errorf("%q is relative: it would resolve against /etc/romsyncd", dir)
			}
		}
	}
}

type nfpmConfig struct {
	Contents []struct {
		Src, Dst, Type string
	}
	Scripts map[string]string
}

func readNfpm(t *testing.T) nfpmConfig {
	t.Helper()
	data, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c nfpmConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNfpmContents checks the package's file list: where each file goes,
// that the repository's files exist (nfpm reads them from the repository
// root; dist/build is made by build-deb), and that the configuration is the
// only conffile.
func TestNfpmContents(t *testing.T) {
	c := readNfpm(t)
	dsts := map[string]string{}
	for _, f := range c.Contents {
		dsts[f.Dst] = f.Src
		if strings.HasPrefix(f.Src, "dist/build/") {
			continue
		}
		if _, err := os.Stat(filepath.Join("..", f.Src)); err != nil {
			t.Errorf("%s: %v", f.Dst, err)
		}
		if strings.HasPrefix(f.Dst, "/etc/") != (f.Type == "config|noreplace") {
			t.Errorf("%s is type %q: files under /etc, and only those, are conffiles (config|noreplace)", f.Dst, f.Type)
		}
	}
	for dst, src := range map[string]string{
		"/usr/bin/romsyncd":                                  "dist/build/romsyncd",
		"/lib/systemd/system/romsyncd.service":               "dist/build/romsyncd.service",
		"/usr/lib/systemd/user/romsyncd.service":             "dist/build/romsyncd-user.service",
		"/usr/lib/sysusers.d/romsyncd.conf":                  "systemd/sysusers.d/romsyncd.conf",
		"/usr/lib/sysctl.d/99-romsyncd-inotify.conf":         "systemd/99-romsyncd-inotify.conf",
		"/etc/romsyncd/config.yaml":                          "packaging/config.yaml",
		"/usr/share/bash-completion/completions/romsyncd":    "dist/build/completions/romsyncd.bash",
		"/usr/share/zsh/vendor-completions/_romsyncd":        "dist/build/completions/_romsyncd",
		"/usr/share/fish/vendor_completions.d/romsyncd.fish": "dist/build/completions/romsyncd.fish",
		"/usr/share/man/man1/":                               "dist/build/man1/*.1.gz",
		"/usr/share/doc/romsyncd/copyright":                  "dist/build/copyright",
		"/usr/share/doc/romsyncd/changelog.gz":               "dist/build/changelog.gz",
		"/usr/share/doc/romsyncd/examples/config.yaml":       "examples/config.yaml",
	} {
		if got, ok := dsts[dst]; !ok {
			t.Errorf("the package lacks %s", dst)
		} else if got != src {
			t.Errorf("%s comes from %s, want %s", dst, got, src)
		}
	}
	for _, script := range []string{"postinstall", "preremove", "postremove"} {
		src := c.Scripts[script]
		st, err := os.Stat(filepath.Join("..", src))
		if err != nil {
			t.Errorf("%s: %v", script, err)
		} else if st.Mode()&0o111 == 0 {
			t.Errorf("%s: %s is not executable", script, src)
		}
	}
}

// TestPurgeRemovesOnlyItsOwn reads the maintainer scripts: the only files
// they remove are the configuration, the service's state and the links
// `systemctl enable` made — never a library or a card, whatever a profile
// names.
func TestPurgeRemovesOnlyItsOwn(t *testing.T) {
	allowed := []string{
		"/etc/romsyncd",
		"/var/lib/romsyncd",
		`"$link"`, // /etc/systemd/{system,user}/*.wants/romsyncd.service, see below
	}
	rm := regexp.MustCompile(`\brm\s+(?:-\S+\s+)*(\S+)`)
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		data, err := os.ReadFile(filepath.Join("scripts", name))
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range rm.FindAllStringSubmatch(line, -1) {
				if !slices.Contains(allowed, m[1]) {
					t.Errorf("scripts/%s:%d removes %s; only %q may be removed", name, n+1, m[1], allowed)
				}
			}
			if strings.Contains(line, "for link in") &&
				strings.TrimSpace(line) != "for link in /etc/systemd/system/*.wants/romsyncd.service /etc/systemd/user/*.wants/romsyncd.service; do" {
				t.Errorf("scripts/%s:%d: the enable links are /etc/systemd/{system,user}/*.wants/romsyncd.service only: %s", name, n+1, line)
			}
		}
	}
}

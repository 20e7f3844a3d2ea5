package systemd_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unit is a parsed unit file: section → key → values in file order.
type unit map[string]map[string][]string

// parseUnit reads a unit file in systemd's syntax: [Section] headers,
// Key=Value lines, '#' and ';' comments, and lines continued with a
// trailing backslash.
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	var cont strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cont.WriteString(l + " ")
			continue
		}
		if cont.Len() > 0 {
			line = cont.String() + line
			cont.Reset()
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a Key=Value line inside a section: %q", path, n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		u[section][key] = append(u[section][key], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// value returns the last assignment of key (the one systemd uses for
// single-valued settings) and whether there is one.
func (u unit) value(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// words returns every space-separated word assigned to a list setting.
func (u unit) words(section, key string) []string {
	var w []string
	for _, v := range u[section][key] {
		w = append(w, strings.Fields(v)...)
	}
	return w
}

type directive struct{ section, key, want string }

func checkDirectives(t *testing.T, u unit, want []directive) {
	t.Helper()
	for _, d := range want {
		got, ok := u.value(d.section, d.key)
		if !ok {
			t.Errorf("[%s] %s= missing, want %q", d.section, d.key, d.want)
		} else if got != d.want {
			t.Errorf("[%s] %s=%s, want %q", d.section, d.key, got, d.want)
		}
	}
}

func checkWords(t *testing.T, u unit, section, key string, want ...string) {
	t.Helper()
	got := u.words(section, key)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("[%s] %s= lacks %s (has %q)", section, key, w, got)
		}
	}
}

func TestSystemUnit(t *testing.T) {
	u := parseUnit(t, "romsyncd.service")
	checkDirectives(t, u, []directive{
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", "/usr/local/bin/romsyncd run --config /etc/romsyncd/config.yaml"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartSec", "5s"},
		{"Service", "RestartPreventExitStatus", "2"},
		{"Service", "WatchdogSec", "60s"},
		{"Service", "TimeoutStopSec", "30s"},
		{"Service", "User", "romsyncd"},
		{"Service", "Group", "romsyncd"},
		{"Service", "StateDirectory", "romsyncd"},
		{"Service", "RuntimeDirectory", "romsyncd"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "read-only"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "ProtectKernelTunables", "yes"},
		{"Service", "ProtectControlGroups", "yes"},
		{"Service", "LockPersonality", "yes"},
		{"Service", "MemoryDenyWriteExecute", "yes"},
		{"Service", "RestrictRealtime", "yes"},
		{"Service", "SystemCallArchitectures", "native"},
		{"Service", "Nice", "10"},
		{"Service", "IOSchedulingClass", "idle"},
		{"Install", "WantedBy", "multi-user.target"},
	})
	checkWords(t, u, "Service", "RestrictAddressFamilies", "AF_UNIX", "AF_INET", "AF_INET6")
	if got := u.words("Service", "RestrictAddressFamilies"); len(got) != 3 {
		t.Errorf("RestrictAddressFamilies=%q, want exactly AF_UNIX AF_INET AF_INET6", got)
	}
	// "-" only makes systemd skip a path the machine lacks.
	var rw []string
	for _, p := range u.words("Service", "ReadWritePaths") {
		rw = append(rw, strings.TrimPrefix(p, "-"))
	}
	for _, p := range []string{"/media", "/mnt", "/run/media"} {
		if !slices.Contains(rw, p) {
			t.Errorf("ReadWritePaths= lacks %s (has %q)", p, rw)
		}
	}
	checkWords(t, u, "Unit", "After", "local-fs.target", "remote-fs.target", "network-online.target")
	checkWords(t, u, "Unit", "Wants", "network-online.target")
	if _, ok := u.value("Unit", "Documentation"); !ok {
		t.Error("[Unit] Documentation= missing")
	}
	// Targets on removable media need a stable owner (see the unit's header).
	if v, ok := u.value("Service", "DynamicUser"); ok && v != "no" {
		t.Errorf("DynamicUser=%s: the service must run as the fixed romsyncd user", v)
	}
}

func TestUserUnit(t *testing.T) {
	u := parseUnit(t, "romsyncd-user.service")
	checkDirectives(t, u, []directive{
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", "%h/go/bin/romsyncd run"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartPreventExitStatus", "2"},
		{"Service", "WatchdogSec", "60s"},
		{"Service", "RuntimeDirectory", "romsyncd"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Install", "WantedBy", "default.target"},
	})
	for _, key := range []string{"User", "Group", "DynamicUser"} {
		if v, ok := u.value("Service", key); ok {
			t.Errorf("user unit sets %s=%s; a user manager runs units as its own user", key, v)
		}
	}
}

func TestSysusers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("sysusers.d", "romsyncd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// sysusers.d: type name id "GECOS" home [shell]
	line := regexp.MustCompile(`(?m)^u\s+(\S+)\s+(\S+)\s+"([^"]*)"\s+(\S+)\s*$`)
	var users [][]string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected sysusers line %q", l)
		}
		users = append(users, m[1:])
	}
	want := [][]string{{"romsyncd", "-", "romsyncd ROM mirror", "/var/lib/romsyncd"}}
	if !slices.EqualFunc(users, want, slices.Equal) {
		t.Fatalf("sysusers entries %q, want %q", users, want)
	}
	// The user and its home are the service's user and state directory.
	u := parseUnit(t, "romsyncd.service")
	if v, _ := u.value("Service", "User"); v != users[0][0] {
		t.Errorf("service User=%s, sysusers creates %s", v, users[0][0])
	}
	if v, _ := u.value("Service", "StateDirectory"); "/var/lib/"+v != users[0][3] {
		t.Errorf("service StateDirectory=%s, but the user's home is %s", v, users[0][3])
	}
}

func TestInotifySysctl(t *testing.T) {
	data, err := os.ReadFile("99-romsyncd-inotify.conf")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("not a key = value line: %q", l)
		}
		settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for key, atLeast := range map[string]int{
		"fs.inotify.max_user_watches":  524288, // default 8192 before Linux 5.11
		"fs.inotify.max_queued_events": 16384,  // the kernel default
	} {
		n, err := strconv.Atoi(settings[key])
		if err != nil || n < atLeast {
			t.Errorf("%s = %q, want a number of at least %d", key, settings[key], atLeast)
		}
		if _, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))); err != nil {
			t.Errorf("%s is not a sysctl of this kernel: %v", key, err)
		}
	}
}

// verifyCopy writes unit file src as dir/romsyncd.service with ExecStart's
// binary replaced by /bin/true (systemd-analyze verify fails when the binary
// is missing, and romsyncd is not installed where the test runs).
func verifyCopy(t *testing.T, src, dir string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	exec := regexp.MustCompile(`(?m)^ExecStart=\S+`)
	if !exec.Match(data) {
		t.Fatalf("%s has no ExecStart=", src)
	}
	data = exec.ReplaceAll(data, []byte("ExecStart=/bin/true"))
	dst := filepath.Join(dir, "romsyncd.service")
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// analyze runs systemd-analyze with args and returns its output.
func analyze(t *testing.T, user bool, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if user {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.CommandContext(ctx, "systemd-analyze", args...)
	if user {
		// A user manager needs $XDG_RUNTIME_DIR, which a CI shell lacks.
		rt := t.TempDir()
		if err := os.Chmod(rt, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// needAnalyze skips the test where systemd-analyze is not installed.
func needAnalyze(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not found: install it (Debian: apt-get install -y systemd) to verify the units")
	}
}

// warnings returns the lines of systemd-analyze's output about unit file
// path: verify exits 0 on unknown keys and bad values, it only prints them.
func warnings(out, path string) []string {
	var w []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, path) || strings.Contains(l, "romsyncd.service") {
			w = append(w, l)
		}
	}
	return w
}

// TestVerify runs systemd-analyze verify on copies of the units (see
// verifyCopy); it needs no running systemd, only the systemd package.
func TestVerify(t *testing.T) {
	needAnalyze(t)
	for _, tc := range []struct {
		file string
		user bool
	}{
		{"romsyncd.service", false},
		{"romsyncd-user.service", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := verifyCopy(t, tc.file, t.TempDir())
			out, err := analyze(t, tc.user, "verify", path)
			if err != nil {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", tc.file, err, out)
			}
			if w := warnings(out, path); len(w) > 0 {
				t.Fatalf("systemd-analyze verify %s warns:\n%s", tc.file, strings.Join(w, "\n"))
			}
		})
	}
}

// TestVerifyCatchesMistakes makes sure TestVerify would see a broken unit:
// systemd-analyze verify reports a misspelt key but still exits 0.
func TestVerifyCatchesMistakes(t *testing.T) {
	needAnalyze(t)
	dir := t.TempDir()
	path := verifyCopy(t, "romsyncd.service", dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("ProtectSystem=strict"), []byte("ProtectSystm=strict"), 1)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := analyze(t, false, "verify", path)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	if w := warnings(out, path); !slices.ContainsFunc(w, func(l string) bool { return strings.Contains(l, "ProtectSystm") }) {
		t.Fatalf("a misspelt key went unreported:\n%s", out)
	}
}

// TestSecurityExposure keeps the system unit's sandbox from eroding:
// systemd-analyze security (systemd 252) rates it 3.4 of 10 ("OK"); 4.0 is
// the ceiling.
func TestSecurityExposure(t *testing.T) {
	needAnalyze(t)
	path := verifyCopy(t, "romsyncd.service", t.TempDir())
	out, err := analyze(t, false, "security", "--offline=yes", "--threshold=40", path)
	if strings.Contains(out, "--offline") || strings.Contains(out, "unrecognized option") {
		t.Skipf("this systemd-analyze cannot rate a unit file offline (needs systemd 250+):\n%s", out)
	}
	if err != nil {
		t.Fatalf("exposure above 4.0: %v\n%s", err, lastLines(out, 3))
	}
	t.Log(lastLines(out, 1))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

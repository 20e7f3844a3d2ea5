package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cli is a confined environment for runs that need no filesystem of
// their own: configuration errors.
type cli struct {
	t    *testing.T
	dir  string
	home string
	env  []string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	for _, d := range []string{"home", "xdg-config", "xdg-state", "run", "lib/GBA"} {
		mustMkdir(t, filepath.Join(dir, d))
	}
	if err := os.WriteFile(filepath.Join(dir, "lib/GBA/game.gba"), []byte("rom"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.home,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg-config"),
		"XDG_STATE_HOME=" + filepath.Join(dir, "xdg-state"),
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "run"),
		"RUNTIME_DIRECTORY=" + filepath.Join(dir, "run"),
	}
	return c
}

func (c *cli) run(env []string, args ...string) result {
	c.t.Helper()
	p := startBin(c.t, c.dir, append(append([]string(nil), c.env...), env...), args...)
	timeout := 30 * time.Second
	if args[0] == "run" {
		timeout = 10 * time.Second // a daemon that started is a failure here
	}
	return p.result(timeout)
}

// oneErrorLine checks the contract for bad input: exit 2, one error line per problem
// on stderr that names key (when given), no output on stdout, no panic.
func oneErrorLine(t *testing.T, label string, r result, key string) {
	t.Helper()
	if r.finished {
		noPanic(t, label, r) // a hung run's goroutine dump is ours
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	// One line per problem (a config with several is reported whole, in
	// file order), each a romsyncd error line.
	var odd []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "romsyncd: ") {
			odd = append(odd, l)
		}
	}
	switch {
	case !r.finished:
		t.Errorf("%s: romsyncd hung\n%s", label, tail(r.stderr, 2000))
	case r.code != 2:
		t.Errorf("%s: %v, want exit 2\nstdout:\n%s\nstderr:\n%s", label, r.exit, r.stdout, r.stderr)
	case len(odd) > 0 || lines[0] == "":
		t.Errorf("%s: want error lines on stderr, one per problem; got %d other lines:\n%s", label, len(odd), r.stderr)
	case key != "" && !strings.Contains(r.stderr, key):
		t.Errorf("%s: no error line names %q:\n%s", label, key, r.stderr)
	case strings.TrimSpace(r.stdout) != "":
		t.Errorf("%s: output on stdout for a refused configuration:\n%s", label, r.stdout)
	}
}

// TestRefusedTargets: a configuration whose target is /, the home folder
// or the source's parent (spelled several ways, or set from the
// environment) is refused by every command with exit 2 and one line that
// names the key, and nothing is written.
func TestRefusedTargets(t *testing.T) {
	c := newCLI(t)
	src := filepath.Join(c.dir, "lib")
	cases := []struct {
		name, target string
		env          []string
	}{
		{"root", "/", nil},
		{"root spelled /.", "/.", nil},
		{"root spelled //", "//", nil},
		{"root spelled /tmp/..", "/tmp/..", nil},
		{"home", c.home, nil},
		{"home with a trailing slash", c.home + "/", nil},
		{"home as ~/", "~/", nil},
		{"home as ~/.", "~/.", nil},
		{"source's parent", c.dir, nil},
		{"source's parent, relative", ".", nil},
		{"the source itself", src, nil},
		{"inside the source", filepath.Join(src, "card"), nil},
		{"root from the environment", filepath.Join(c.dir, "card"), []string{"ROMSYNCD_PROFILE_CARD_TARGET=/"}},
		{"home from the environment", filepath.Join(c.dir, "card"), []string{"ROMSYNCD_PROFILE_CARD_TARGET=" + c.home}},
	}
	for i, tc := range cases {
		cfg := filepath.Join(c.dir, fmt.Sprintf("refused-%d.yaml", i))
		y := fmt.Sprintf("state_dir: %s\nsocket: %s\nprofiles:\n  - name: card\n    source: %s\n    target: %s\n",
			strconv.Quote(filepath.Join(c.dir, "state")), strconv.Quote(filepath.Join(c.dir, "run", "s.sock")), strconv.Quote(src), strconv.Quote(tc.target))
		if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"sync"}, {"sync", "--dry-run"}, {"check-config"}, {"init", "--profile", "card"}, {"run"}} {
			label := fmt.Sprintf("target %s (%q): romsyncd %s", tc.name, tc.target, strings.Join(args, " "))
			r := c.run(tc.env, append(args, "--config", cfg)...)
			oneErrorLine(t, label, r, "target")
		}
	}
	for _, p := range []string{"/.romsyncd", filepath.Join(c.home, ".romsyncd"), filepath.Join(c.dir, ".romsyncd"), filepath.Join(src, ".romsyncd")} {
		if fileExists(p) {
			t.Errorf("%s was created for a refused target", p)
		}
	}
}

// profileLevel are the bad values that config.Load accepts and only the
// profile's layout compilation refuses.
var profileLevel = map[string]bool{"layout unknown": true, "only unknown platform": true, "platform override path": true}

// TestMalformedConfig: broken YAML and broken values, each refused with
// exit 2 and one error line by sync, check-config and run; never a panic
// or a hang.
func TestMalformedConfig(t *testing.T) {
	c := newCLI(t)
	src := strconv.Quote(filepath.Join(c.dir, "lib"))
	dst := strconv.Quote(filepath.Join(c.dir, "card"))
	valid := func(extra string) string {
		return fmt.Sprintf("profiles:\n  - name: card\n    source: %s\n    target: %s\n%s", src, dst, extra)
	}
	laughs := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, prev := 0, "a"; i < 9; i++ {
		n := string(rune('b' + i))
		laughs += fmt.Sprintf("%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	cases := map[string]string{
		"empty file":              "",
		"only a document marker":  "---\n",
		"only a comment":          "# nothing\n",
		"unterminated quote":      "profiles:\n  - name: \"card\n",
		"unterminated flow":       "profiles: [\n",
		"tab indentation":         "profiles:\n\t- name: card\n",
		"profiles is a number":    "profiles: 5\n",
		"profiles is a string":    "profiles: all\n",
		"profiles is null":        "profiles: ~\n",
		"profiles of numbers":     "profiles: [1, 2]\n",
		"profile of a list":       "profiles:\n  - [1, 2]\n",
		"non-string keys":         "profiles:\n  - {[1]: 2}\n",
		"numeric keys":            "1: 2\nprofiles:\n  - name: card\n",
		"a map as top level list": "- a\n- b\n",
		"binary garbage":          "\x00\x01\x02\xff\xfe\x7f{{{]]]",
		"NUL inside":              valid("") + "\x00\n",
		"billion laughs":          laughs + valid(""),
		"deep nesting":            "profiles: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
		"unknown anchor":          "profiles:\n  - *nowhere\n",
		"merge of nothing":        "profiles:\n  - <<: *x\n    name: card\n",
		"binary tag":              "profiles:\n  - name: !!binary aGVsbG8=\n",
		"python tag":              "profiles:\n  - !!python/object:os.system {}\n",
		"duplicate key":           valid("    target: /elsewhere\n"),
		"unknown top key":         "frobnicate: 1\n" + valid(""),
		"unknown profile key":     valid("    colour: blue\n"),
		"workers huge":            valid("    workers: 99999999999999999999999\n"),
		"workers float":           valid("    workers: 1e400\n"),
		"workers negative":        valid("    workers: -1\n"),
		"workers a list":          valid("    workers: [1]\n"),
		"max_delete 101%":         valid("    max_delete: 101%\n"),
		"max_delete words":        valid("    max_delete: lots\n"),
		"debounce negative":       valid("    debounce: -1s\n"),
		"debounce garbage":        valid("    debounce: soon\n"),
		"poll_interval zero":      valid("    poll_interval: 1ns\n"),
		"max_delay < debounce":    valid("    debounce: 10s\n    max_delay: 1s\n"),
		"mode unknown":            valid("    mode: yolo\n"),
		"layout unknown":          valid("    layout: nokia-3310\n"),
		"only unknown platform":   valid("    only: [nokia]\n"),
		"platform override path":  valid("    platforms: {gba: ../../etc}\n"),
		"include bad glob":        valid("    include: [\"[\"]\n"),
		"name upper case":         "profiles:\n  - name: CARD\n    source: " + src + "\n    target: " + dst + "\n",
		"name with newline":       "profiles:\n  - name: \"ca\\nrd\"\n    source: " + src + "\n    target: " + dst + "\n",
		"missing source":          "profiles:\n  - name: card\n    target: " + dst + "\n",
		"empty source":            "profiles:\n  - name: card\n    source: \"\"\n    target: " + dst + "\n",
		"missing target":          "profiles:\n  - name: card\n    source: " + src + "\n",
		"duplicate names":         valid("") + "  - name: card\n    source: " + src + "\n    target: \"/tmp/other-card\"\n",
		"overlapping targets":     valid("") + "  - name: two\n    source: " + src + "\n    target: " + strconv.Quote(filepath.Join(c.dir, "card", "sub")) + "\n",
		"log_level unknown":       "log_level: loud\n" + valid(""),
		"BOM and tab":             "\ufeffprofiles:\n\t- x\n",
	}
	i := 0
	for name, data := range cases {
		i++
		cfg := filepath.Join(c.dir, fmt.Sprintf("bad-%d.yaml", i))
		if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"sync"}, {"check-config"}, {"run"}} {
			if args[0] == "run" && profileLevel[name] {
				continue // TestRunRefusesInvalidLayout
			}
			label := fmt.Sprintf("%s: romsyncd %s", name, strings.Join(args, " "))
			start := time.Now()
			r := c.run(nil, append(args, "--config", cfg)...)
			oneErrorLine(t, label, r, "")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s: took %v", label, d)
			}
		}
	}
	// A config that does not exist, and one that is a folder.
	for name, cfg := range map[string]string{"missing file": filepath.Join(c.dir, "nope.yaml"), "a folder": c.dir} {
		r := c.run(nil, "sync", "--config", cfg)
		oneErrorLine(t, name, r, "")
	}
	// Bad command lines.
	for _, args := range [][]string{{"sync", "--bogus"}, {"sync", "extra-arg"}, {"frobnicate"}, {"sync", "--log-level", "loud", "--config", filepath.Join(c.dir, "bad-1.yaml")}} {
		r := c.run(nil, args...)
		noPanic(t, strings.Join(args, " "), r)
		if r.code != 2 {
			t.Errorf("romsyncd %s: %v, want exit 2\n%s", strings.Join(args, " "), r.exit, r.stderr)
		}
	}
}

// TestRunRefusesInvalidLayout: `romsyncd run` with a profile whose layout,
// only or platforms value is invalid must refuse to start (exit 2, one
// line), as check-config and sync do; and a reload to such a file must
// keep the running configuration (README: "an invalid file is logged and
// the running configuration stays").
func TestRunRefusesInvalidLayout(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	w.populate(libSpec{folders: []string{"GBA"}, small: 3})
	for _, bad := range []string{"    layout: nokia-3310\n", "    only: [nokia]\n", "    platforms: {gba: ../../etc}\n"} {
		w.writeConfig(bad)
		r := w.run(10*time.Second, "run")
		oneErrorLine(t, "romsyncd run with "+strings.TrimSpace(bad), r, "")
	}
	w.writeConfig("")
	d := w.startDaemon()
	w.waitConverged(d, "daemon start")
	w.writeConfig("    layout: nokia-3310\n")
	d.signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { return d.reloads() > 0 }) {
		t.Fatalf("no reload\n%s", d.output())
	}
	w.putNew("GBA", 100)
	w.waitConverged(d, "a change after a reload to an invalid layout")
	d.stop("end")
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadResolvesAndDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "romsyncd.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
profiles:
  - name: miyoo
    source: library
    target: /media/sd/Roms
    include: ["*.gba", "*.sfc"]
    exclude: ["*.txt"]
    max_delete: 500
  - name: pocket-2
    source: /srv/roms
    target: ../card
    mode: update
    verify: false
    workers: 4
    max_delete: 10%
    debounce: 100ms
`), 0o644))
	cfg, err := Load(file)
	require.NoError(t, err)
	require.Len(t, cfg.Profiles, 2)
	p := cfg.Profiles[0]
	assert.Equal(t, filepath.Join(dir, "library"), p.Source)
	assert.Equal(t, "/media/sd/Roms", p.Target)
	assert.Equal(t, ModeMirror, p.Mode)
	assert.Equal(t, DefaultWorkers, p.Workers)
	assert.True(t, p.Verify)
	assert.Equal(t, Limit{Count: 500}, p.MaxDelete)
	assert.Equal(t, DefaultDebounce, p.Debounce)
	assert.Equal(t, time.Duration(-1), p.ModifyWindow)
	q := cfg.Profiles[1]
	assert.Equal(t, filepath.Join(filepath.Dir(dir), "card"), q.Target)
	assert.Equal(t, ModeUpdate, q.Mode)
	assert.False(t, q.Verify)
	assert.Equal(t, 4, q.Workers)
	assert.Equal(t, Limit{Percent: 10, IsPercent: true}, q.MaxDelete)
	assert.Equal(t, 100*time.Millisecond, q.Debounce)
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top key", "profile: []\nprofiles: [{name: a, source: /s, target: /t}]", `line 1: profile: unknown key`},
		{"unknown profile key", "profiles: [{name: a, source: /s, target: /t, verfy: true}]", `profiles[0] (a).verfy: unknown key`},
		{"no profiles", "log_level: info", `profiles: no profiles defined`},
		{"missing source", "profiles: [{name: a, target: /t}]", `profiles[0] (a).source: required`},
		{"missing target", "profiles: [{name: a, source: /s}]", `profiles[0] (a).target: required`},
		{"missing name", "profiles: [{source: /s, target: /t}]", `profiles[0].name: required`},
		{"bad name", "profiles: [{name: My Card, source: /s, target: /t}]", `may only contain`},
		{"duplicate", "profiles: [{name: a, source: /s, target: /t}, {name: a, source: /s2, target: /t2}]", `duplicate profile name "a"`},
		{"target in source", "profiles: [{name: a, source: /s, target: /s/card}]", `lies inside the source`},
		{"source in target", "profiles: [{name: a, source: /t/lib, target: /t}]", `contains the source`},
		{"same", "profiles: [{name: a, source: /s, target: /s}]", `is the source itself`},
		{"root target", "profiles: [{name: a, source: /s, target: /}]", `contains the source`},
		{"bad mode", "profiles: [{name: a, source: /s, target: /t, mode: sync}]", `mode: "sync" is not mirror or update`},
		{"bad glob", "profiles: [{name: a, source: /s, target: /t, include: ['[']}]", `include[0]: "[" is not a valid glob`},
		{"bad workers", "profiles: [{name: a, source: /s, target: /t, workers: 0}]", `workers: 0 is not between 1 and 64`},
		{"bad max_delete", "profiles: [{name: a, source: /s, target: /t, max_delete: lots}]", `max_delete: "lots" is neither`},
		{"bad percent", "profiles: [{name: a, source: /s, target: /t, max_delete: 120%}]", `max_delete: "120%" is not a share`},
		{"bad duration", "profiles: [{name: a, source: /s, target: /t, debounce: soon}]", `debounce: "soon" is not a duration`},
		{"overlapping targets", "profiles: [{name: a, source: /s, target: /t}, {name: b, source: /s, target: /t/x}]", `overlaps the target of profile a`},
		{"not yaml", "profiles: [", `not valid YAML`},
		{"profiles not list", "profiles: {a: 1}", `must be a list`},
		{"bad log level", "log_level: loud\nprofiles: [{name: a, source: /s, target: /t}]", `log_level: "loud"`},
		{"bad watch", "profiles: [{name: a, source: /s, target: /t, watch: inotify}]", `watch: "inotify"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("cfg.yaml", "/etc", []byte(tt.yaml), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "config cfg.yaml: "), err.Error())
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestHomeIsRefusedAsTarget(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	_, err := parse("c.yaml", "/", []byte("profiles: [{name: a, source: /srv/x, target: "+home+"}]"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "home directory")
}

func TestEnvironmentOverrides(t *testing.T) {
	y := []byte("profiles: [{name: my-card, source: /s, target: /t}]")
	cfg, err := parse("c.yaml", "/", y, []string{"ROMSYNCD_PROFILE_MY_CARD_TARGET=/media/other", "ROMSYNCD_PROFILE_MY_CARD_WORKERS=3", "PATH=/bin"})
	require.NoError(t, err)
	assert.Equal(t, "/media/other", cfg.Profiles[0].Target)
	assert.Equal(t, 3, cfg.Profiles[0].Workers)

	_, err = parse("c.yaml", "/", y, []string{"ROMSYNCD_PROFILE_OTHER_TARGET=/x"})
	require.ErrorContains(t, err, "names no profile")
	_, err = parse("c.yaml", "/", y, []string{"ROMSYNCD_PROFILE_MY_CARD_INCLUDE=*.gb"})
	require.ErrorContains(t, err, "cannot be set from the environment")
	_, err = parse("c.yaml", "/", y, []string{"ROMSYNCD_PROFILE_MY_CARD_WORKERS=0"})
	require.ErrorContains(t, err, "workers: 0")

	t.Setenv("ROMSYNCD_LOG_LEVEL", "debug")
	cfg, err = parse("c.yaml", "/", y, nil)
	require.NoError(t, err)
	assert.Equal(t, "debug", cfg.LogLevel)
}

func TestDefaultPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ROMSYNCD_CONFIG", "/x/y.yaml")
	p, from, err := DefaultPath()
	require.NoError(t, err)
	assert.Equal(t, "/x/y.yaml", p)
	assert.Equal(t, "$ROMSYNCD_CONFIG", from)

	t.Setenv("ROMSYNCD_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", dir)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "romsyncd"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "romsyncd", "config.yaml"), nil, 0o644))
	p, from, err = DefaultPath()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "romsyncd", "config.yaml"), p)
	assert.Equal(t, "$XDG_CONFIG_HOME", from)
}

func TestLimit(t *testing.T) {
	tests := []struct {
		limit        string
		n, installed int
		allows       bool
	}{
		{"25%", 25, 100, true},
		{"25%", 26, 100, false},
		{"0%", 1, 100, false},
		{"100%", 100, 100, true},
		{"500", 500, 1000, true},
		{"500", 501, 100000, false},
		{"10%", 0, 0, true},
	}
	for _, tt := range tests {
		l, err := ParseLimit(tt.limit)
		require.NoError(t, err)
		assert.Equal(t, tt.allows, l.Allows(tt.n, tt.installed), "%s %d/%d", tt.limit, tt.n, tt.installed)
		assert.Equal(t, tt.limit, l.String())
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("profiles: [{name: a, source: /s, target: /t}]"))
	f.Add([]byte("profiles:\n  - name: x\n    source: lib\n    target: out\n    max_delete: 5%\n    platforms: {gba: GBA}\n"))
	f.Add([]byte("profiles: [{name: a, source: /s, target: /s/t, include: ['[']}]"))
	f.Add([]byte("{{{"))
	f.Add([]byte("profiles: [[1, 2]]"))
	f.Add([]byte("profiles: [{name: a, source: ~/x, target: /t, debounce: -1s}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("fuzz.yaml", "/base", data, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config fuzz.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, p := range cfg.Profiles {
			if !filepath.IsAbs(p.Source) || !filepath.IsAbs(p.Target) {
				t.Fatalf("relative path survived: %+v", p)
			}
			if p.Source == p.Target || within(p.Target, p.Source) || within(p.Source, p.Target) {
				t.Fatalf("overlapping source and target accepted: %+v", p)
			}
			if p.Workers < 1 || p.Name == "" {
				t.Fatalf("invalid profile accepted: %+v", p)
			}
		}
	})
}

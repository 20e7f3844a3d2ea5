// Package config loads romsyncd's YAML configuration (plus ROMSYNCD_*
// environment overrides) into typed, validated profiles; the rest of the
// program never sees viper.
package config

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/romsyncd/romsyncd/watcher"
	"github.com/spf13/viper"
)

// Mode says whether a profile mirrors deletions.
type Mode string

const (
	// ModeMirror removes from the target what romsyncd installed and the
	// library no longer has.
	ModeMirror Mode = "mirror"
	// ModeUpdate never deletes.
	ModeUpdate Mode = "update"
)

// Limit caps the deletions of one pass: a share of the installed files
// (Percent) or a count. A zero Limit with Set=false means "no limit".
type Limit struct {
	Percent   float64 // 0..100, used when IsPercent
	Count     int
	IsPercent bool
}

// String renders the limit the way it is written in the config.
func (l Limit) String() string {
	if l.IsPercent {
		return strconv.FormatFloat(l.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(l.Count)
}

// Allows reports whether deleting n of installed files stays within the limit.
func (l Limit) Allows(n, installed int) bool {
	if n == 0 {
		return true
	}
	if l.IsPercent {
		if installed == 0 {
			return true
		}
		return float64(n)*100 <= l.Percent*float64(installed)
	}
	return n <= l.Count
}

// ParseLimit parses "25%" or "500".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return Limit{}, fmt.Errorf("%q is not a share between 0%% and 100%%", s)
		}
		return Limit{Percent: f, IsPercent: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Limit{}, fmt.Errorf("%q is neither a share (\"25%%\") nor a count (\"500\")", s)
	}
	return Limit{Count: n}, nil
}

// Profile is one library → target mapping, resolved and validated.
type Profile struct {
	Name      string
	Source    string // absolute, cleaned
	Target    string // absolute, cleaned
	Mode      Mode
	Include   []string
	Exclude   []string
	Workers   int
	Verify    bool
	MaxDelete Limit

	// SD-card targets and layouts.
	Layout       string
	Platforms    map[string]string
	Only         []string
	Unknown      string        // "keep" or "skip"
	ModifyWindow time.Duration // -1: probe the target's granularity
	DSTTolerance bool

	// Cards: with Cards set, the profile's targets are found on the cards
	// that carry its marker, wherever they are mounted (Target may be "").
	// Eject unmounts and powers off a card once it is in sync.
	Cards *Cards
	Eject bool

	// Daemon.
	Watch        watcher.Mode // auto, notify, poll
	Debounce     time.Duration
	MaxDelay     time.Duration
	PollInterval time.Duration
	Rescan       time.Duration

	// Saves, when set, backs up the card's saves after each pass.
	Saves *Saves
}

// Saves is a profile's save backup (`saves:`).
type Saves struct {
	Backup string // absolute, cleaned: the backup root
	States bool   // back up save states too (default true)
	Keep   int    // versions kept per save; 0 keeps all
}

// Config is a whole configuration file.
type Config struct {
	File               string
	StateDir           string
	Socket             string
	LogLevel           string
	MetricsListen      string
	MetricsAllowRemote bool
	Profiles           []Profile
}

// Profile returns the named profile.
func (c *Config) Profile(name string) (*Profile, bool) {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i], true
		}
	}
	return nil, false
}

// ErrNotFound is returned by DefaultPath when no configuration file exists.
var ErrNotFound = errors.New("no configuration file found")

// DefaultPath finds the configuration file when --config is absent:
// $ROMSYNCD_CONFIG, then $XDG_CONFIG_HOME/romsyncd/config.yaml (or
// ~/.config/...), then /etc/romsyncd/config.yaml. It returns the path and
// where it came from.
func DefaultPath() (string, string, error) {
	if p := os.Getenv("ROMSYNCD_CONFIG"); p != "" {
		return p, "$ROMSYNCD_CONFIG", nil
	}
	var tried []string
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		p := filepath.Join(xdg, "romsyncd", "config.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, "$XDG_CONFIG_HOME", nil
		}
		tried = append(tried, p)
	}
	p := "/etc/romsyncd/config.yaml"
	if _, err := os.Stat(p); err == nil {
		return p, "system default", nil
	}
	tried = append(tried, p)
	return "", "", fmt.Errorf("%w (tried %s; pass --config or set ROMSYNCD_CONFIG)", ErrNotFound, strings.Join(tried, ", "))
}

var topKeys = map[string]bool{
	"profiles": true, "state_dir": true, "socket": true, "log_level": true,
	"metrics_listen": true, "metrics_allow_remote": true,
}

var profileKeys = map[string]bool{
	"name": true, "source": true, "target": true, "mode": true, "include": true,
	"exclude": true, "workers": true, "verify": true, "max_delete": true,
	"layout": true, "platforms": true, "only": true, "unknown": true,
	"modify_window": true, "dst_tolerance": true,
	"watch": true, "debounce": true, "max_delay": true, "poll_interval": true, "rescan": true,
	"saves": true, "cards": true, "eject": true,
}

var savesKeys = map[string]bool{"backup": true, "states": true, "keep": true}

type rawProfile struct {
	Name         string            `mapstructure:"name"`
	Source       string            `mapstructure:"source"`
	Target       string            `mapstructure:"target"`
	Mode         string            `mapstructure:"mode"`
	Include      []string          `mapstructure:"include"`
	Exclude      []string          `mapstructure:"exclude"`
	Workers      *int              `mapstructure:"workers"`
	Verify       *bool             `mapstructure:"verify"`
	MaxDelete    *string           `mapstructure:"max_delete"`
	Layout       string            `mapstructure:"layout"`
	Platforms    map[string]string `mapstructure:"platforms"`
	Only         []string          `mapstructure:"only"`
	Unknown      string            `mapstructure:"unknown"`
	ModifyWindow *string           `mapstructure:"modify_window"`
	DSTTolerance bool              `mapstructure:"dst_tolerance"`
	Watch        string            `mapstructure:"watch"`
	Debounce     *string           `mapstructure:"debounce"`
	MaxDelay     *string           `mapstructure:"max_delay"`
	PollInterval *string           `mapstructure:"poll_interval"`
	Rescan       *string           `mapstructure:"rescan"`
	Saves        any               `mapstructure:"saves"`
	Cards        any               `mapstructure:"cards"`
	Eject        bool              `mapstructure:"eject"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Defaults.
const (
	DefaultWorkers      = 2
	DefaultMaxDelete    = "50%"
	DefaultDebounce     = 2 * time.Second
	DefaultMaxDelay     = 60 * time.Second
	DefaultPollInterval = 60 * time.Second
	DefaultRescan       = time.Hour
)

// Load reads, resolves and validates the configuration file at file.
func Load(file string) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("cannot read: %v", unwrapPath(err))}
	}
	return parse(file, filepath.Dir(abs), data, os.Environ())
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parse is Load without the file system, for tests and fuzzing. It reports
// every problem it finds (see Errors), each with its line.
func parse(file, dir string, data []byte, environ []string) (cfg *Config, err error) {
	var errs Errors
	add := func(line int, key, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	fail := func(key, format string, args ...any) error {
		return &Error{File: file, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	// viper and mapstructure can panic on exotic YAML (e.g. non-string map
	// keys); a bad file must be an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fail("", "cannot parse: %v", r)
		}
	}()
	// A tab in the indentation makes YAML report some other line, or a
	// riddle: say what and where.
	for n, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if strings.Contains(indent, "\t") && strings.TrimSpace(line) != "" {
			add(n+1, "", "tabs are not allowed in YAML indentation; indent with spaces")
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	pos := positionsOf(data)
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(string(data))); err != nil {
		return nil, fail("", "not valid YAML: %s", oneLine(err.Error()))
	}
	v.SetEnvPrefix("ROMSYNCD")
	for _, k := range []string{"state_dir", "socket", "log_level", "metrics_listen", "metrics_allow_remote"} {
		_ = v.BindEnv(k)
	}
	for _, k := range pos.topOrder {
		if !topKeys[k] {
			add(pos.top[k], k, "unknown key (valid: %s)", keyList(topKeys))
		}
	}
	rawProfiles, perr := profileMaps(v.Get("profiles"))
	switch {
	case perr != nil:
		add(pos.top["profiles"], "profiles", "%v", perr)
	case len(rawProfiles) == 0:
		add(pos.top["profiles"], "profiles", "no profiles defined")
	}
	if err := applyProfileEnv(rawProfiles, environ); err != nil {
		add(0, "", "%v", err)
	}

	cfg = &Config{
		File:               file,
		StateDir:           v.GetString("state_dir"),
		Socket:             v.GetString("socket"),
		LogLevel:           v.GetString("log_level"),
		MetricsListen:      v.GetString("metrics_listen"),
		MetricsAllowRemote: v.GetBool("metrics_allow_remote"),
	}
	switch strings.ToLower(cfg.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		add(pos.top["log_level"], "log_level", "%q is not one of debug, info, warn, error", cfg.LogLevel)
	}
	if cfg.StateDir != "" {
		cfg.StateDir = resolve(dir, cfg.StateDir)
	}
	cfg.addProfiles(rawProfiles, pos, dir, add)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// addProfiles validates the raw profiles and appends the valid ones to c,
// reporting each problem with add at its line.
func (c *Config) addProfiles(rawProfiles []map[string]any, pos positions, dir string, add func(line int, key, format string, args ...any)) {
	seen := map[string]int{}
	var at []profilePos // of c.Profiles
	for i, m := range rawProfiles {
		pp := pos.profile(i)
		key := fmt.Sprintf("profiles[%d]", i)
		if n, ok := m["name"].(string); ok && n != "" {
			key = fmt.Sprintf("profiles[%d] (%s)", i, n)
		}
		for _, k := range pp.unknown(m) {
			add(pp.lineOf(k), key+"."+k, "unknown key (valid: %s)", keyList(profileKeys))
			delete(m, k)
		}
		var rp rawProfile
		dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
			Result: &rp, WeaklyTypedInput: true, ErrorUnused: true,
		})
		if err != nil {
			add(pp.line, key, "%v", err)
			continue
		}
		if err := dec.Decode(m); err != nil {
			add(pp.line, key, "%s", oneLine(err.Error()))
			continue
		}
		p, kerrs := profile(rp, dir)
		for _, ke := range kerrs {
			add(pp.lineOf(ke.key), key+"."+ke.key, "%s", ke.msg)
		}
		if len(kerrs) > 0 {
			continue
		}
		if j, dup := seen[p.Name]; dup {
			add(pp.lineOf("name"), key+".name", "duplicate profile name %q (also profiles[%d])", p.Name, j)
			continue
		}
		seen[p.Name] = i
		c.Profiles = append(c.Profiles, p)
		at = append(at, pp)
	}
	// Two profiles writing the same target root would fight over it.
	for i := range c.Profiles {
		for j := i + 1; j < len(c.Profiles); j++ {
			a, b := c.Profiles[i], c.Profiles[j]
			if a.Target == "" || b.Target == "" {
				continue // found on cards: their markers keep them apart
			}
			if a.Target == b.Target || within(a.Target, b.Target) || within(b.Target, a.Target) {
				add(at[j].lineOf("target"), fmt.Sprintf("profiles[%d] (%s).target", at[j].index, b.Name),
					"%s overlaps the target of profile %s (%s)", b.Target, a.Name, a.Target)
			}
		}
	}
}

type keyErr struct{ key, msg string }

// profile resolves and validates one profile, returning every problem.
func profile(rp rawProfile, dir string) (Profile, []keyErr) {
	var errs []keyErr
	bad := func(key, format string, args ...any) {
		errs = append(errs, keyErr{key: key, msg: fmt.Sprintf(format, args...)})
	}
	p := Profile{
		Name: rp.Name, Mode: Mode(rp.Mode), Include: rp.Include, Exclude: rp.Exclude,
		Workers: DefaultWorkers, Verify: true, Layout: strings.ToLower(rp.Layout),
		Platforms: rp.Platforms, Only: rp.Only, Unknown: strings.ToLower(rp.Unknown),
		ModifyWindow: -1, DSTTolerance: rp.DSTTolerance,
		Debounce: DefaultDebounce, MaxDelay: DefaultMaxDelay,
		PollInterval: DefaultPollInterval, Rescan: DefaultRescan,
	}
	switch {
	case p.Name == "":
		bad("name", "required")
	case !nameRE.MatchString(p.Name):
		bad("name", "%q may only contain a-z, 0-9, '_' and '-'", p.Name)
	}
	p.Cards, p.Eject = parseCards(rp.Cards, bad), rp.Eject
	p.checkPaths(rp, dir, bad)
	switch p.Mode {
	case "":
		p.Mode = ModeMirror
	case ModeMirror, ModeUpdate:
	default:
		bad("mode", "%q is not mirror or update", rp.Mode)
	}
	for i, g := range p.Include {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad(fmt.Sprintf("include[%d]", i), "%q is not a valid glob", g)
		}
	}
	for i, g := range p.Exclude {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad(fmt.Sprintf("exclude[%d]", i), "%q is not a valid glob", g)
		}
	}
	if rp.Workers != nil {
		if *rp.Workers < 1 || *rp.Workers > 64 {
			bad("workers", "%d is not between 1 and 64", *rp.Workers)
		} else {
			p.Workers = *rp.Workers
		}
	}
	if rp.Verify != nil {
		p.Verify = *rp.Verify
	}
	md := DefaultMaxDelete
	if rp.MaxDelete != nil {
		md = *rp.MaxDelete
	}
	if l, err := ParseLimit(md); err != nil {
		bad("max_delete", "%v", err)
	} else {
		p.MaxDelete = l
	}
	switch p.Unknown {
	case "":
		p.Unknown = "keep"
	case "keep", "skip":
	default:
		bad("unknown", "%q is not keep or skip", rp.Unknown)
	}
	if rp.Watch != "" {
		m, err := watcher.ParseMode(strings.ToLower(rp.Watch))
		if err != nil {
			bad("watch", "%q is not auto, notify or poll", rp.Watch)
		}
		p.Watch = m
	}
	durations := []struct {
		key string
		raw *string
		dst *time.Duration
		min time.Duration
	}{
		{"modify_window", rp.ModifyWindow, &p.ModifyWindow, 0},
		{"debounce", rp.Debounce, &p.Debounce, 0},
		{"max_delay", rp.MaxDelay, &p.MaxDelay, 0},
		{"poll_interval", rp.PollInterval, &p.PollInterval, 100 * time.Millisecond},
		{"rescan", rp.Rescan, &p.Rescan, 0},
	}
	for _, d := range durations {
		if d.raw == nil {
			continue
		}
		v, err := parseDuration(*d.raw)
		switch {
		case err != nil:
			bad(d.key, "%v", err)
		case v < d.min:
			bad(d.key, "%s is below the minimum %s", v, d.min)
		default:
			*d.dst = v
		}
	}
	if p.MaxDelay > 0 && p.MaxDelay < p.Debounce {
		bad("max_delay", "%s is shorter than debounce %s", p.MaxDelay, p.Debounce)
	}
	if rp.Saves != nil {
		p.Saves = p.savesOf(rp.Saves, dir, bad)
	}
	return p, errs
}

// savesOf validates a profile's saves: mapping. Its backup folder must be
// neither on the card nor in the library (a backup there would be
// mirrored, or written to the card).
func (p *Profile) savesOf(raw any, dir string, bad func(key, format string, args ...any)) *Saves {
	m, ok := raw.(map[string]any)
	if !ok {
		bad("saves", "must be a mapping: {backup: PATH, states: true|false, keep: all|N}")
		return nil
	}
	s := &Saves{States: true}
	for _, k := range sortedKeys(m) {
		if !savesKeys[strings.ToLower(k)] {
			bad("saves."+strings.ToLower(k), "unknown key (valid: %s)", keyList(savesKeys))
		}
	}
	get := func(k string) (any, bool) {
		for mk, v := range m {
			if strings.EqualFold(mk, k) {
				return v, true
			}
		}
		return nil, false
	}
	switch b, _ := get("backup"); b := b.(type) {
	case string:
		if strings.TrimSpace(b) == "" {
			bad("saves.backup", "required (the folder that keeps the saves' versions)")
			break
		}
		s.Backup = resolve(dir, strings.TrimSpace(b))
		switch {
		case p.Target != "" && (s.Backup == p.Target || within(s.Backup, p.Target) || within(p.Target, s.Backup)):
			bad("saves.backup", "%s overlaps the target %s: the backup must live off the card", s.Backup, p.Target)
		case p.Source != "" && (s.Backup == p.Source || within(s.Backup, p.Source) || within(p.Source, s.Backup)):
			bad("saves.backup", "%s overlaps the source %s: the backup would be mirrored to the card", s.Backup, p.Source)
		}
	case nil:
		bad("saves.backup", "required (the folder that keeps the saves' versions)")
	default:
		bad("saves.backup", "%v is not a path", b)
	}
	if v, ok := get("states"); ok {
		switch v := v.(type) {
		case bool:
			s.States = v
		case string:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("saves.states", "%q is not true or false", v)
			}
			s.States = b
		default:
			bad("saves.states", "%v is not true or false", v)
		}
	}
	if v, ok := get("keep"); ok {
		str := strings.ToLower(strings.TrimSpace(fmt.Sprint(v)))
		if str != "all" {
			n, err := strconv.Atoi(str)
			if err != nil || n < 1 {
				bad("saves.keep", "%q is neither all nor a count of versions of at least 1", str)
			}
			s.Keep = n
		}
	}
	return s
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkPaths resolves source and target against dir and refuses a pair
// that would copy a folder into itself or onto the root or home folder.
func (p *Profile) checkPaths(rp rawProfile, dir string, bad func(key, format string, args ...any)) {
	haveSource, haveTarget := strings.TrimSpace(rp.Source) != "", strings.TrimSpace(rp.Target) != ""
	if !haveSource {
		bad("source", "required (the library folder)")
	}
	if !haveTarget && rp.Cards == nil {
		bad("target", "required (the folder on the card)") // or cards:
	}
	if haveSource {
		p.Source = resolve(dir, rp.Source)
	}
	if !haveSource || !haveTarget {
		return
	}
	p.Target = resolve(dir, rp.Target)
	switch {
	case p.Source == p.Target:
		bad("target", "%s is the source itself", p.Target)
	case within(p.Target, p.Source):
		bad("target", "%s lies inside the source %s", p.Target, p.Source)
	case within(p.Source, p.Target):
		bad("target", "%s contains the source %s (the target must not be the source's parent)", p.Target, p.Source)
	case p.Target == "/":
		bad("target", "refusing the root directory as a target")
	default:
		if home, err := os.UserHomeDir(); err == nil && filepath.Clean(home) == p.Target {
			bad("target", "refusing the home directory %s as a target", p.Target)
		}
	}
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 2s, 500ms, 1h)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

func resolve(dir, p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}

// within reports whether p lies strictly inside dir.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

func profileMaps(v any) ([]map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of profiles")
	}
	out := make([]map[string]any, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d is not a mapping", i)
		}
		lower := make(map[string]any, len(m))
		for k, val := range m {
			lower[strings.ToLower(k)] = val
		}
		out = append(out, lower)
	}
	return out, nil
}

// applyProfileEnv applies ROMSYNCD_PROFILE_<NAME>_<KEY>=value overrides
// (NAME upper-cased with '-' written as '_'), for scalar keys only.
func applyProfileEnv(profiles []map[string]any, environ []string) error {
	const prefix = "ROMSYNCD_PROFILE_"
	for _, kv := range environ {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		matched := false
		for _, m := range profiles {
			name, _ := m["name"].(string)
			envName := strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
			if name == "" || !strings.HasPrefix(rest, envName) {
				continue
			}
			key := strings.ToLower(rest[len(envName):])
			switch key {
			case "include", "exclude", "only", "platforms", "saves", "cards":
				return fmt.Errorf("environment %s: list and map keys cannot be set from the environment", k)
			}
			if !profileKeys[key] || key == "name" {
				return fmt.Errorf("environment %s: %q is not a profile key that can be overridden", k, key)
			}
			m[key] = val
			matched = true
			break
		}
		if !matched {
			return fmt.Errorf("environment %s: names no profile of this file", k)
		}
	}
	return nil
}

func keyList(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.Join(strings.Fields(s), " ")
}

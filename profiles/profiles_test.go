package profiles

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/config"
	romsync "github.com/romsyncd/romsyncd/sync"
)

func TestStateDir(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	assert.Equal(t, "/etc/x", StateDir(&config.Config{StateDir: "/etc/x"}))
	assert.Equal(t, "/home/u/.local/state/romsyncd", StateDir(&config.Config{}))
	t.Setenv("XDG_STATE_HOME", "/xdg")
	assert.Equal(t, "/xdg/romsyncd", StateDir(&config.Config{}))
	t.Setenv("STATE_DIRECTORY", "/var/lib/romsyncd:/other")
	assert.Equal(t, "/var/lib/romsyncd", StateDir(&config.Config{}))
}

func TestOptionsFromProfile(t *testing.T) {
	dir := t.TempDir()
	p := config.Profile{Name: "p", Source: filepath.Join(dir, "lib"), Target: filepath.Join(dir, "card"), Mode: config.ModeUpdate,
		Workers: 3, Verify: true, Layout: "onion", Unknown: "skip", ModifyWindow: -1}
	o, err := Options(&config.Config{StateDir: dir}, &p, nil)
	require.NoError(t, err)
	assert.False(t, o.Delete)
	assert.Equal(t, 3, o.Workers)
	require.NotNil(t, o.MapPlatform)
	folder, ok, _ := o.MapPlatform("Nintendo - Game Boy Advance")
	assert.True(t, ok)
	assert.Equal(t, "GBA", folder)
	_, ok, reason := o.MapPlatform("My Homebrew")
	assert.False(t, ok)
	assert.NotEmpty(t, reason)
	assert.Equal(t, romsync.DiscsHidden, o.DiscStyle, "Onion wants multi-disc games in hidden folders")

	p.Layout = "nosuchdevice"
	_, err = Options(&config.Config{}, &p, nil)
	assert.ErrorContains(t, err, "nosuchdevice")
}

func TestOptionsInstallHabits(t *testing.T) {
	dir := t.TempDir()
	p := config.Profile{Name: "p", Source: filepath.Join(dir, "lib"), Target: filepath.Join(dir, "card"), Mode: config.ModeMirror,
		Workers: 1, Verify: true, Layout: "pocket", ModifyWindow: -1}
	o, err := Options(&config.Config{StateDir: dir}, &p, nil)
	require.NoError(t, err)
	require.NotNil(t, o.Unzip)
	assert.True(t, o.Unzip("Nintendo - Game Boy"))
	assert.False(t, o.Unzip("SNK - Neo Geo"), "arcade romsets are never unzipped")
	require.NotNil(t, o.GameFolders)
	assert.True(t, o.GameFolders("MS-DOS"))

	p.Layout = "onion"
	o, err = Options(&config.Config{StateDir: dir}, &p, nil)
	require.NoError(t, err)
	assert.False(t, o.Unzip("Nintendo - Game Boy"))
}

package profiles

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/names"
	romsync "github.com/romsyncd/romsyncd/sync"
	"github.com/romsyncd/romsyncd/targetfs"
)

func TestApplyInfo(t *testing.T) {
	tests := []struct {
		name   string
		info   targetfs.Info
		window time.Duration
		want   romsync.Options
	}{
		{"ext4", targetfs.Info{FSType: "ext4", MtimeGranularity: time.Nanosecond, MaxFileSize: 16 << 40, MaxNameBytes: 255, Unicode: true}, -1,
			romsync.Options{Names: names.Rules{MaxNameBytes: 255}, MaxFileSize: 16 << 40, Parallel: 1}},
		{"exfat-fuse", targetfs.Info{FSType: "exfat", Driver: "fuseblk", Device: "/dev/sdb1", FUSE: true, FATNames: true, CaseInsensitive: true, MtimeGranularity: time.Second, MaxFileSize: math.MaxInt64, MaxNameBytes: 255, Unicode: true}, -1,
			romsync.Options{Names: names.Rules{FAT: true, CaseInsensitive: true, MaxNameBytes: 255}, MaxFileSize: math.MaxInt64, PerFileSync: true, VolumeSync: true, ModifyWindow: time.Second,
				Parallel: 4, NoPermissions: true, BlockDevice: "/dev/sdb1"}},
		{"fusefat, explicit window", targetfs.Info{FSType: "vfat", FUSE: true, FATNames: true, CaseInsensitive: true, MtimeGranularity: 2 * time.Second, MaxFileSize: 4<<30 - 1, MaxNameBytes: 255}, 3 * time.Second,
			romsync.Options{Names: names.Rules{FAT: true, CaseInsensitive: true, MaxNameBytes: 255, ASCII: true}, MaxFileSize: 4<<30 - 1, PerFileSync: true, ModifyWindow: 3 * time.Second,
				Parallel: 4, NoPermissions: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o romsync.Options
			ApplyInfo(tt.info, tt.window, &o)
			assert.Equal(t, tt.want, o)
		})
	}
}

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

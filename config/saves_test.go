package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSavesAbsentMeansNoBackup(t *testing.T) {
	cfg, err := parse("c.yaml", "/etc", []byte("profiles:\n  - name: a\n    source: /lib\n    target: /media/sd/Roms\n"), nil)
	require.NoError(t, err)
	assert.Nil(t, cfg.Profiles[0].Saves)
}

func TestSavesParsed(t *testing.T) {
	for _, tc := range []struct {
		saves string
		want  Saves
	}{
		{"{backup: backups/saves}", Saves{Backup: "/etc/backups/saves", States: true, Keep: 0}},
		{"{backup: /srv/saves, states: false, keep: 10}", Saves{Backup: "/srv/saves", States: false, Keep: 10}},
		{"{backup: /srv/saves, keep: all, states: \"true\"}", Saves{Backup: "/srv/saves", States: true}},
		{"\n      backup: /srv/saves\n      keep: 3", Saves{Backup: "/srv/saves", States: true, Keep: 3}},
	} {
		y := "profiles:\n  - name: a\n    source: /lib\n    target: /media/sd/Roms\n    saves: " + tc.saves + "\n"
		cfg, err := parse("c.yaml", "/etc", []byte(y), nil)
		require.NoError(t, err, tc.saves)
		require.NotNil(t, cfg.Profiles[0].Saves, tc.saves)
		assert.Equal(t, tc.want, *cfg.Profiles[0].Saves, tc.saves)
	}
}

// TestSavesErrors: each problem names the file, the line of the key and
// the key.
func TestSavesErrors(t *testing.T) {
	for _, tc := range []struct {
		saves string
		want  string
	}{
		{"\n      states: true", "line 5: profiles[0] (a).saves.backup: required"},
		{"\n      backup: /media", "line 6: profiles[0] (a).saves.backup: /media overlaps the target"},
		{"\n      backup: /lib/saves", "line 6: profiles[0] (a).saves.backup: /lib/saves overlaps the source"},
		{"\n      backup: /srv/s\n      keep: 0", "line 7: profiles[0] (a).saves.keep: \"0\" is neither all nor a count"},
		{"\n      backup: /srv/s\n      keep: some", "line 7: profiles[0] (a).saves.keep: \"some\" is neither all"},
		{"\n      backup: /srv/s\n      states: maybe", "line 7: profiles[0] (a).saves.states: \"maybe\" is not true or false"},
		{"\n      backup: /srv/s\n      keeep: 2", "line 7: profiles[0] (a).saves.keeep: unknown key (valid: backup, keep, states)"},
		{"/srv/saves", "line 5: profiles[0] (a).saves: must be a mapping"},
	} {
		y := "profiles:\n  - name: a\n    source: /lib\n    target: /media/sd/Roms\n    saves: " + tc.saves + "\n"
		_, err := parse("c.yaml", "/etc", []byte(y), nil)
		require.Error(t, err, tc.saves)
		assert.True(t, strings.HasPrefix(err.Error(), "config c.yaml: "+tc.want), "%q: got %q, want %q…", tc.saves, err, tc.want)
	}
}

func TestSavesNotFromEnvironment(t *testing.T) {
	y := "profiles:\n  - name: a\n    source: /lib\n    target: /media/sd/Roms\n"
	_, err := parse("c.yaml", "/etc", []byte(y), []string{"ROMSYNCD_PROFILE_A_SAVES=/x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot be set from the environment")
}

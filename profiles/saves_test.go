package profiles

import (
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/config"
)

func TestCheckSavesNeedsACoveredLayout(t *testing.T) {
	for _, tc := range []struct {
		layout string
		ok     bool
	}{{"onion", true}, {"knulli", true}, {"twmenu", false}, {"", false}} {
		cfg := &config.Config{File: "c.yaml", Profiles: []config.Profile{{Name: "a", Layout: tc.layout, Saves: &config.Saves{Backup: "/srv/saves"}}}}
		err := Check(cfg)
		if (err == nil) != tc.ok {
			t.Errorf("layout %q: %v", tc.layout, err)
		}
		if err != nil && !strings.Contains(err.Error(), "profiles[0] (a).saves: ") {
			t.Errorf("layout %q: error does not name the key: %v", tc.layout, err)
		}
	}
	if _, ok := SavesOptions(&config.Profile{Name: "b"}, nil); ok {
		t.Error("a profile without saves: has save options")
	}
}

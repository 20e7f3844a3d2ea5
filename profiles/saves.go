package profiles

import (
	"fmt"
	"log/slog"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/saves"
)

// SavesOptions turns a profile's saves: into the save backup's options;
// ok is false when the profile backs up no saves.
func SavesOptions(p *config.Profile, log *slog.Logger) (o saves.Options, ok bool) {
	if p.Saves == nil {
		return saves.Options{}, false
	}
	return saves.Options{
		Target: p.Target, Layout: p.Layout, Backup: p.Saves.Backup,
		States: p.Saves.States, Keep: p.Saves.Keep, Log: log,
	}, true
}

// checkSaves refuses saves: on a profile whose layout the save catalog
// does not cover: romsyncd would not know where its firmware keeps them.
func checkSaves(p *config.Profile) error {
	if p.Saves == nil {
		return nil
	}
	if _, err := saves.Locations(p.Layout); err != nil {
		return fmt.Errorf("%w; set a layout the save catalog covers, or remove the saves key", err)
	}
	return nil
}

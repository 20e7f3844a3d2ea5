package sync

import (
	"strings"
	"time"

	"github.com/romsyncd/romsyncd/names"
	"github.com/romsyncd/romsyncd/targetfs"
)

// Adapt adapts the options to a probed target filesystem (what
// Options.Probe does once the target is open). window < 0 means "the
// target's own timestamp granularity".
func (o *Options) Adapt(info targetfs.Info, window time.Duration) {
	o.Names = names.Rules{FAT: info.FATNames, CaseInsensitive: info.CaseInsensitive,
		MaxNameBytes: info.MaxNameBytes, ASCII: !info.Unicode}
	if info.MaxFileSize > 0 {
		o.MaxFileSize = info.MaxFileSize
	}
	// FUSE drivers do not see syncfs: every file is fsynced on its own,
	// except on exfat-fuse, whose every fsync writes out the whole volume
	// (measured: see FIELD-NOTES), so one per batch does it.
	o.PerFileSync = info.FUSE
	o.VolumeSync = info.FUSE && info.FSType == "exfat" && info.Driver == "fuseblk"
	o.NoPermissions = info.FATNames
	o.Parallel, o.BlockDevice = 1, ""
	if info.FUSE {
		o.Parallel = 4 // bench: 4,000 small files to exFAT, see bench/RESULTS.md
	}
	if info.Driver == "fuseblk" && strings.HasPrefix(info.Device, "/dev/") {
		o.BlockDevice = info.Device
	}
	if window < 0 {
		window = info.MtimeGranularity
		if window <= 1 {
			window = 0
		}
	}
	o.ModifyWindow = window
}

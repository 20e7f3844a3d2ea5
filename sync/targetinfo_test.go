package sync

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/romsyncd/romsyncd/names"
	"github.com/romsyncd/romsyncd/targetfs"
)

func TestAdapt(t *testing.T) {
	tests := []struct {
		name   string
		info   targetfs.Info
		window time.Duration
		want   Options
	}{
		{"ext4", targetfs.Info{FSType: "ext4", MtimeGranularity: time.Nanosecond, MaxFileSize: 16 << 40, MaxNameBytes: 255, Unicode: true}, -1,
			Options{Names: names.Rules{MaxNameBytes: 255}, MaxFileSize: 16 << 40, Parallel: 1}},
		{"exfat-fuse", targetfs.Info{FSType: "exfat", Driver: "fuseblk", Device: "/dev/sdb1", FUSE: true, FATNames: true, CaseInsensitive: true, MtimeGranularity: time.Second, MaxFileSize: math.MaxInt64, MaxNameBytes: 255, Unicode: true}, -1,
			Options{Names: names.Rules{FAT: true, CaseInsensitive: true, MaxNameBytes: 255}, MaxFileSize: math.MaxInt64, PerFileSync: true, VolumeSync: true, ModifyWindow: time.Second,
				Parallel: 4, NoPermissions: true, BlockDevice: "/dev/sdb1"}},
		{"fusefat, explicit window", targetfs.Info{FSType: "vfat", FUSE: true, FATNames: true, CaseInsensitive: true, MtimeGranularity: 2 * time.Second, MaxFileSize: 4<<30 - 1, MaxNameBytes: 255}, 3 * time.Second,
			Options{Names: names.Rules{FAT: true, CaseInsensitive: true, MaxNameBytes: 255, ASCII: true}, MaxFileSize: 4<<30 - 1, PerFileSync: true, ModifyWindow: 3 * time.Second,
				Parallel: 4, NoPermissions: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			o.Adapt(tt.info, tt.window)
			assert.Equal(t, tt.want, o)
		})
	}
}

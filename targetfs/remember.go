package targetfs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Remember names where probe results outlive the process: a file on the
// host (in romsyncd's state dir) and the identity of the card, its marker
// id. A card probed once is not probed again while it keeps its marker,
// its driver and its mount options: a no-op pass writes nothing on it.
// The zero Remember remembers nothing.
type Remember struct {
	File string // the results file; "" remembers nothing
	ID   string // the card's marker id; "" remembers nothing
}

func (r Remember) ok() bool { return r.File != "" && r.ID != "" }

// rememberedMax bounds the results file: the cards seen last are kept.
const rememberedMax = 64

// remembered is one filesystem's probe results in the results file.
type remembered struct {
	ID      string    `json:"id"`
	Driver  string    `json:"driver"`
	FSType  string    `json:"fs_type"`
	Options string    `json:"options"`
	Seen    time.Time `json:"seen"`
	Info    Info      `json:"info"`
}

type rememberedFile struct {
	Version     int          `json:"version"`
	Filesystems []remembered `json:"filesystems"`
}

const rememberedVersion = 1

// recall returns the results remembered for the card on this mount. The
// mount's type and options are part of the identity: a card mounted by
// another driver, or with other options (iocharset, shortname,
// case-folding), may behave otherwise and is probed again.
func (r Remember) recall(m MountInfo) (Info, bool) {
	f := r.read()
	for _, e := range f.Filesystems {
		if e.ID == r.ID && e.Driver == m.FSType && e.Options == m.Options {
			info := e.Info
			info.MountPoint, info.Device, info.Free, info.Total = m.MountPoint, m.Source, 0, 0
			return info, true
		}
	}
	return Info{}, false
}

// store remembers info for the card. Failing to is no error: the next run
// probes again.
func (r Remember) store(m MountInfo, info Info) {
	f := r.read()
	f.Filesystems = slices.DeleteFunc(f.Filesystems, func(e remembered) bool {
		return e.ID == r.ID && e.Driver == m.FSType
	})
	info.MountPoint, info.Device, info.Free, info.Total = "", "", 0, 0
	f.Filesystems = append(f.Filesystems, remembered{ID: r.ID, Driver: m.FSType, FSType: info.FSType,
		Options: m.Options, Seen: time.Now().UTC().Truncate(time.Second), Info: info})
	slices.SortStableFunc(f.Filesystems, func(a, b remembered) int { return b.Seen.Compare(a.Seen) })
	if len(f.Filesystems) > rememberedMax {
		f.Filesystems = f.Filesystems[:rememberedMax]
	}
	f.Version = rememberedVersion
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(r.File), 0o700); err != nil {
		return
	}
	tmp := fmt.Sprintf("%s.%d.tmp", r.File, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, r.File); err != nil {
		os.Remove(tmp)
	}
}

// read reads the results file; a missing, unreadable or foreign one is
// empty (everything is probed again).
func (r Remember) read() rememberedFile {
	var f rememberedFile
	data, err := os.ReadFile(r.File)
	if err != nil {
		return f
	}
	if json.Unmarshal(data, &f) != nil || f.Version != rememberedVersion {
		return rememberedFile{}
	}
	return f
}

// ProbeRemembering is Probe that first recalls what an earlier run
// learned about the same card (see Remember), and remembers what it
// probes. Free and Total are always read afresh.
func ProbeRemembering(ctx context.Context, dir, scratch string, r Remember) (Info, error) {
	return probeWith(ctx, dir, scratch, r)
}

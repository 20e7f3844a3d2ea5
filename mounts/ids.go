package mounts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// idSource finds the UUID and label of the filesystem on a device.
type idSource interface {
	identify(source string) (uuid, label string)
}

// systemIDs reads udev's /dev/disk links, then asks blkid.
type systemIDs struct {
	diskDir string // "" means /dev/disk
}

// blkidTimeout bounds one blkid run (it reads the device).
const blkidTimeout = 5 * time.Second

func (s systemIDs) identify(source string) (uuid, label string) {
	if !strings.HasPrefix(source, "/dev/") {
		return "", ""
	}
	dev, err := filepath.EvalSymlinks(source)
	if err != nil {
		return "", ""
	}
	dir := s.diskDir
	if dir == "" {
		dir = "/dev/disk"
	}
	uuid = linkTo(filepath.Join(dir, "by-uuid"), dev)
	label = linkTo(filepath.Join(dir, "by-label"), dev)
	if uuid != "" || label != "" {
		return uuid, label
	}
	return blkid(dev)
}

// linkTo returns the name of the link in dir that points to dev, with udev's
// \xNN escapes decoded ("MY\x20CARD" is "MY CARD"), or "".
func linkTo(dir, dev string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if t, err := filepath.EvalSymlinks(p); err == nil && t == dev {
			return unescapeHex(e.Name())
		}
	}
	return ""
}

// unescapeHex decodes the \xNN escapes udev writes in link names.
func unescapeHex(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blkid asks blkid(8) for the UUID and label of the filesystem on dev; it
// returns "" for each when blkid is missing or cannot read the device (as a
// user without its cache).
func blkid(dev string) (uuid, label string) {
	path, err := exec.LookPath("blkid")
	if err != nil {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), blkidTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-o", "export", dev).Output()
	if err != nil {
		return "", ""
	}
	return parseBlkid(string(out))
}

// parseBlkid reads blkid's "-o export" output: KEY=value lines, with
// characters special to a shell escaped by a backslash.
func parseBlkid(out string) (uuid, label string) {
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), "=")
		if !ok {
			continue
		}
		v = unescapeShell(v)
		switch k {
		case "UUID":
			uuid = v
		case "LABEL":
			label = v
		}
	}
	return uuid, label
}

func unescapeShell(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

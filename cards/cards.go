// Package cards tells which romsyncd card a mounted filesystem is, and keeps
// the registry of the cards romsyncd knows.
//
// A card is known by what it carries, not by where it is mounted: its marker
// (<target>/.romsyncd/marker, written by sync/cardstate) names its profile and
// id. Identify looks for it at the mount's root and at each layout's ROM
// folder on the card (Roms/, roms/, ROMS/, Assets/ …). A filesystem without
// a marker is never a target, unless a profile's adoption rule names its
// label or UUID (Adoptable).
package cards

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/mounts"
	"github.com/romsyncd/romsyncd/platform"
	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// ErrNoMarker: the filesystem carries no romsyncd marker where a card has one.
var ErrNoMarker = errors.New("no romsyncd marker on the card")

// Card is a romsyncd target found on a mounted filesystem.
type Card struct {
	Profile string
	ID      string    // the marker's id: one per card and target
	Created time.Time // when the marker was written
	// Root is the target root: the folder holding .romsyncd/marker, the
	// mount point or a ROM folder inside it.
	Root  string
	Mount mounts.Mount
}

// Folder returns the target root relative to the mount point: "." or
// "Roms".
func (c Card) Folder() string {
	rel, err := filepath.Rel(c.Mount.MountPoint, c.Root)
	if err != nil {
		return c.Root
	}
	return rel
}

// romFolders maps each layout of platform/layouts.tsv to the folder, relative
// to the card root, that holds its platform folders: the profile's target
// on a card. It is read from the layouts' descriptions ("Onion OS (Miyoo
// Mini): Roms/<x>"); "" is the card root itself. TestROMFoldersCoverLayouts
// fails when a layout is added without one.
var romFolders = map[string]string{
	"es":        "ROMs",
	"batocera":  "roms",
	"rocknix":   "roms",
	"retrodeck": "retrodeck/roms",
	"onion":     "Roms",
	"minui":     "Roms",
	"muos":      "ROMS",
	"spruce":    "Roms",
	"crossmix":  "Roms",
	"mister":    "games",
	"pocket":    "", // Assets/<x>/common: the target is the card root
	"romm":      "library/roms",
	"miyoocfw":  "roms",
	"funkeyos":  "",
	"twmenu":    "roms",
	"adam":      "roms", // RG350_adam_image: roms/<x> on the external card

	"mister-mgl": "games", // mister with its launchers' folders
}

// ROMFolder returns the folder, relative to the card root, where layout (a
// name or alias) keeps its platform folders ("Roms" for onion, "" for the
// card root itself on pocket), and false for a layout it does not know.
func ROMFolder(layout string) (string, bool) {
	if f, ok := romFolders[strings.ToLower(layout)]; ok {
		return f, true
	}
	l, err := platform.NewLayout(platform.Options{Layout: layout})
	if err != nil {
		return "", false
	}
	f, ok := romFolders[l.Name()]
	return f, ok
}

// searchFolders returns the folders relative to a card root where a marker
// may be: the root, then every layout's ROM folder, once each.
func searchFolders() []string {
	seen := map[string]bool{"": true}
	out := []string{""}
	for _, f := range romFolders {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	slices.Sort(out[1:])
	return out
}

// Identify returns the romsyncd targets on the mounted filesystem m: a
// marker at its root or in a layout's ROM folder. Usually one; a card may
// carry the targets of several profiles in different folders. It returns
// ErrNoMarker when there is none, and an error for a marker it cannot
// read (a card failing, or a garbled marker), which is never a target.
func Identify(m mounts.Mount) ([]Card, error) {
	var (
		found []Card
		errs  []error
		// On a case-insensitive card Roms and ROMS are one folder; FUSE
		// exFAT gives it a new inode number per name, so folders are told
		// apart by the name the card lists.
		seen = map[string]bool{}
	)
	for _, rel := range searchFolders() {
		root := actualPath(m.MountPoint, rel)
		if seen[root] {
			continue
		}
		seen[root] = true
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			continue
		}
		mk, err := ReadMarker(root)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		found = append(found, Card{Profile: mk.Profile, ID: mk.ID, Created: mk.Created, Root: root, Mount: m})
	}
	if len(found) > 0 || len(errs) > 0 {
		return found, errors.Join(errs...)
	}
	return nil, fmt.Errorf("%s: %w", m.MountPoint, ErrNoMarker)
}

// actualPath returns mount/rel with each component spelled as the card's
// folder listing spells it.
func actualPath(mount, rel string) string {
	p := mount
	if rel == "" {
		return p
	}
	for part := range strings.SplitSeq(rel, "/") {
		p = filepath.Join(p, spelled(p, part))
	}
	return p
}

// spelled returns the entry of dir whose name equals name ignoring case,
// name itself first, or name when dir holds none.
func spelled(dir, name string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return name
	}
	var fold string
	for _, e := range ents {
		if e.Name() == name {
			return name
		}
		if fold == "" && e.IsDir() && strings.EqualFold(e.Name(), name) {
			fold = e.Name()
		}
	}
	if fold != "" {
		return fold
	}
	return name
}

// ReadMarker reads the marker of the target at root. It is read-only:
// sync/cardstate owns the marker and writes it. The error wraps
// fs.ErrNotExist when there is none.
func ReadMarker(root string) (cardstate.Marker, error) {
	p := filepath.Join(root, cardstate.MetaDirName, cardstate.MarkerName)
	data, err := os.ReadFile(p)
	if err != nil {
		return cardstate.Marker{}, fmt.Errorf("read marker %s: %w", p, err)
	}
	var mk cardstate.Marker
	if err := json.Unmarshal(data, &mk); err != nil || mk.Profile == "" {
		return cardstate.Marker{}, fmt.Errorf("read marker %s: not a romsyncd marker (%v)", p, err)
	}
	return mk, nil
}

// TargetOn returns where a profile with layout keeps its target on the card
// mounted at mountPoint: the layout's ROM folder, spelled as the card
// spells it when it exists ("roms" where the layout says "Roms"), and
// whether it exists. With no layout, or one whose target is the card root,
// the target is the mount point.
func TargetOn(mountPoint, layout string) (root string, exists bool) {
	rel, _ := ROMFolder(layout)
	root = actualPath(mountPoint, rel)
	fi, err := os.Stat(root)
	return root, err == nil && fi.IsDir()
}

// Adoptable returns the first of profiles whose adoption rules take the
// unmarked filesystem m, by label or UUID, and false when none does: an
// unknown card is then never written to.
func Adoptable(m mounts.Mount, profiles []config.Profile) (*config.Profile, bool) {
	for i := range profiles {
		p := &profiles[i]
		if p.Cards == nil {
			continue
		}
		for _, r := range p.Cards.Adopt {
			if r.Matches(m.Label, m.UUID) {
				return p, true
			}
		}
	}
	return nil, false
}

// pseudoFS are filesystem types that are never a card.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "cgroup": true, "cgroup2": true,
	"mqueue": true, "debugfs": true, "tracefs": true, "securityfs": true, "pstore": true, "bpf": true,
	"configfs": true, "fusectl": true, "hugetlbfs": true, "autofs": true, "binfmt_misc": true,
	"nsfs": true, "efivarfs": true, "ramfs": true, "rpc_pipefs": true, "squashfs": true,
	"overlay": true, "selinuxfs": true,
}

// systemDirs hold the system's own mounts, never a card's.
var systemDirs = []string{"/proc", "/sys", "/dev", "/boot", "/efi", "/snap", "/var/lib", "/usr"}

// MayBeCard reports whether Identify should look at the mount m at all: not
// the root filesystem, no pseudo filesystem (proc, cgroup2, squashfs …),
// nothing under /proc, /sys, /dev, /boot, /run (but /run/media) and the
// like. It reads nothing on the mount: a hung FUSE mount cannot block it.
func MayBeCard(m mounts.Mount) bool {
	mp := m.MountPoint
	if mp == "/" || pseudoFS[m.FSType] {
		return false
	}
	if under(mp, "/run") && !under(mp, "/run/media") {
		return false
	}
	for _, d := range systemDirs {
		if under(mp, d) {
			return false
		}
	}
	return true
}

func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

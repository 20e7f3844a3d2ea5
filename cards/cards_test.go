package cards

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/mounts"
	"github.com/romsyncd/romsyncd/platform"
	"github.com/romsyncd/romsyncd/targetfs"
)

// TestROMFoldersCoverLayouts: every layout has a ROM folder, and it is the
// one its description in platform/layouts.tsv names.
func TestROMFoldersCoverLayouts(t *testing.T) {
	desc := layoutDescriptions(t)
	for _, name := range platform.Layouts() {
		f, ok := ROMFolder(name)
		if !ok {
			t.Errorf("layout %s has no ROM folder in romFolders", name)
			continue
		}
		if f != "" && !strings.Contains(desc[name], f+"/") {
			t.Errorf("layout %s: ROM folder %q is not in its description %q", name, f, desc[name])
		}
	}
	if len(romFolders) != len(platform.Layouts()) {
		t.Errorf("romFolders has %d layouts, platform %d", len(romFolders), len(platform.Layouts()))
	}
}

func layoutDescriptions(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../platform/layouts.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if strings.HasPrefix(sc.Text(), "#") || len(cols) < 4 {
			continue
		}
		out[cols[0]] = cols[3]
	}
	return out
}

// card makes a folder standing for a mounted card with the given folders
// and markers (folder → profile, id).
func card(t *testing.T, dir string, markers map[string][2]string, folders ...string) mounts.Mount {
	t.Helper()
	for _, f := range folders {
		if err := os.MkdirAll(filepath.Join(dir, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, pm := range markers {
		writeMarker(t, filepath.Join(dir, f), `{"profile":"`+pm[0]+`","id":"`+pm[1]+`","created":"2026-11-29T04:00:00Z"}`)
	}
	return mounts.Mount{MountInfo: targetfs.MountInfo{MountPoint: dir, FSType: "tmpfs"}, Label: "MIYOO", UUID: "1A2B-3C4D"}
}

func writeMarker(t *testing.T, root, content string) {
	t.Helper()
	meta := filepath.Join(root, ".romsyncd")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meta, "marker"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIdentify(t *testing.T) {
	tests := []struct {
		name    string
		markers map[string][2]string
		folders []string
		want    []string // profile@folder
		err     error
	}{
		{"root", map[string][2]string{".": {"pocket", "a1"}}, []string{"Assets"}, []string{"pocket@."}, nil},
		{"onion Roms", map[string][2]string{"Roms": {"miyoo", "b2"}}, []string{"BIOS"}, []string{"miyoo@Roms"}, nil},
		{"batocera roms", map[string][2]string{"roms": {"rg", "c3"}}, nil, []string{"rg@roms"}, nil},
		{"retrodeck", map[string][2]string{"retrodeck/roms": {"deck", "d4"}}, nil, []string{"deck@retrodeck/roms"}, nil},
		{"two targets", map[string][2]string{".": {"pocket", "a1"}, "Roms": {"miyoo", "b2"}}, nil, []string{"pocket@.", "miyoo@Roms"}, nil},
		{"no marker", nil, []string{"Roms/GB"}, nil, ErrNoMarker},
		{"marker elsewhere", map[string][2]string{"Roms/GB": {"miyoo", "e5"}}, nil, nil, ErrNoMarker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := card(t, t.TempDir(), tt.markers, tt.folders...)
			got, err := Identify(m)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("Identify error = %v, want %v", err, tt.err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.Profile+"@"+c.Folder())
				if c.Mount.MountPoint != m.MountPoint || c.ID == "" {
					t.Errorf("card %+v: wrong mount or no id", c)
				}
			}
			if strings.Join(names, " ") != strings.Join(tt.want, " ") {
				t.Errorf("Identify = %v, want %v", names, tt.want)
			}
		})
	}
}

func TestIdentifyGarbledMarkerIsNoTarget(t *testing.T) {
	dir := t.TempDir()
	writeMarker(t, filepath.Join(dir, "Roms"), "{garbage")
	got, err := Identify(card(t, dir, nil))
	if err == nil || errors.Is(err, ErrNoMarker) || len(got) != 0 {
		t.Fatalf("Identify of a garbled marker = %v, %v; want an error and no card", got, err)
	}
	if !strings.Contains(err.Error(), "not a romsyncd marker") {
		t.Errorf("error %q does not say what is wrong", err)
	}
}

// TestIdentifyOnExFAT: on a case-insensitive card, Roms, ROMS and roms are
// one folder: the marker is found once, under the name the card shows.
func TestIdentifyOnExFAT(t *testing.T) {
	dir := testfs.ExFATAt(t, filepath.Join(t.TempDir(), "media", "alice", "MIYOO"), "64M")
	m := card(t, dir, map[string][2]string{"Roms": {"miyoo", "f6"}})
	got, err := Identify(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Root != filepath.Join(dir, "Roms") || got[0].Profile != "miyoo" || got[0].ID != "f6" {
		t.Fatalf("Identify on exFAT = %+v, want one card at %s/Roms", got, dir)
	}
	// muOS spells it ROMS; the card has Roms.
	if root, ok := TargetOn(dir, "muos"); !ok || root != filepath.Join(dir, "Roms") {
		t.Errorf("TargetOn(muos) = %s, %v; want the existing %s/Roms", root, ok, dir)
	}
}

func TestTargetOn(t *testing.T) {
	dir := t.TempDir()
	card(t, dir, nil, "roms", "Assets")
	tests := []struct {
		layout, want string
		exists       bool
	}{
		{"batocera", "roms", true},
		{"onion", "roms", true}, // spelled as the card spells it
		{"ES-DE", "roms", true}, // alias case: es's ROMs
		{"pocket", "", true},
		{"", "", true},
		{"mister", "games", false},
		{"romm", "library/roms", false},
	}
	for _, tt := range tests {
		root, ok := TargetOn(dir, tt.layout)
		if want := filepath.Join(dir, tt.want); root != want || ok != tt.exists {
			t.Errorf("TargetOn(%q) = %s, %v; want %s, %v", tt.layout, root, ok, want, tt.exists)
		}
	}
}

func TestAdoptable(t *testing.T) {
	profiles := []config.Profile{
		{Name: "fixed", Target: "/media/sd"},
		{Name: "miyoo", Cards: &config.Cards{Adopt: []config.AdoptRule{{Label: "MIYOO"}}}},
		{Name: "pocket", Cards: &config.Cards{Adopt: []config.AdoptRule{{UUID: "9999-0000"}}}},
	}
	tests := []struct {
		label, uuid, want string
	}{
		{"miyoo", "1111-2222", "miyoo"},
		{"POCKET", "9999-0000", "pocket"},
		{"MIYOO1", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		m := mounts.Mount{Label: tt.label, UUID: tt.uuid}
		p, ok := Adoptable(m, profiles)
		got := ""
		if ok {
			got = p.Name
		}
		if got != tt.want {
			t.Errorf("Adoptable(label %q, uuid %q) = %q, want %q", tt.label, tt.uuid, got, tt.want)
		}
	}
}

func TestMayBeCard(t *testing.T) {
	tests := []struct {
		point, fstype string
		want          bool
	}{
		{"/media/alice/MIYOO", "fuseblk", true},
		{"/run/media/alice/MIYOO1", "vfat", true},
		{"/mnt/sd", "exfat", true},
		{"/tmp/TestX/001/media/user/CARD", "tmpfs", true},
		{"/", "ext4", false},
		{"/proc", "proc", false},
		{"/sys/fs/cgroup", "cgroup2", false},
		{"/run/user/1000", "tmpfs", false},
		{"/run/user/1000/doc", "fuse.portal", false},
		{"/dev/shm", "tmpfs", false},
		{"/boot/efi", "vfat", false},
		{"/snap/core/123", "squashfs", false},
		{"/media/alice/iso", "squashfs", false},
	}
	for _, tt := range tests {
		m := mounts.Mount{MountInfo: targetfs.MountInfo{MountPoint: tt.point, FSType: tt.fstype}}
		if got := MayBeCard(m); got != tt.want {
			t.Errorf("MayBeCard(%s %s) = %v, want %v", tt.fstype, tt.point, got, tt.want)
		}
	}
}

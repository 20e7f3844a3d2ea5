package targetfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// cardWorld is a machine in a temp dir: mount roots media (a tmpfs, as some
// systems mount /media), run/media and mnt (plain folders), a user folder
// media/user holding a mounted card OTHER, an fstab that lists srv/sd (not
// mounted) and srv/sd2 (mounted).
type cardWorld struct {
	root  string
	roots []string
	fstab string
}

func newCardWorld(t *testing.T) *cardWorld {
	t.Helper()
	root := realRoot(t)
	w := &cardWorld{root: root}
	media := testfs.TmpfsAt(t, filepath.Join(root, "media"), "4m")
	testfs.TmpfsAt(t, filepath.Join(media, "user", "OTHER"), "4m")
	testfs.TmpfsAt(t, filepath.Join(root, "srv", "sd2"), "4m")
	for _, d := range []string{"run/media/user", "mnt", "media/user/STALE", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.roots = []string{media, filepath.Join(root, "run", "media"), filepath.Join(root, "mnt"), filepath.Join(root, "nomedia")}
	w.fstab = writeFake(t, "fstab", "LABEL=SD {root}/srv/sd exfat noauto 0 0\nLABEL=SD2 {root}/srv/sd2 exfat noauto 0 0\n", root)
	return w
}

// TestCheckCreatableRealMounts checks each shape of issue 10's point 1 on
// real mounts: a target is never created where a missing part of its path
// would be the mount point of an absent card.
func TestCheckCreatableRealMounts(t *testing.T) {
	w := newCardWorld(t)
	r := w.root
	tests := []struct {
		name    string
		path    string
		refused bool
	}{
		{"missing /media/USER/LABEL", r + "/media/user/KNULLI/roms", true},
		{"missing /media/USER (cards of another user mounted elsewhere)", r + "/media/bob/KNULLI/roms", true},
		{"/media/USER holding other cards", r + "/media/user/MUOS", true},
		{"mount point left as a plain folder", r + "/media/user/STALE/roms", true},
		{"missing /run/media/USER/LABEL", r + "/run/media/user/KNULLI/roms", true},
		{"missing /mnt/X", r + "/mnt/sd/roms", true},
		{"missing mount root", r + "/nomedia/user/SD/roms", true},
		{"fstab mount point not mounted", r + "/srv/sd/roms", true},
		{"missing fstab mount point's folder", r + "/srv/sd", true},
		{"folder on a mounted card", r + "/media/user/OTHER/roms/gba", false},
		{"the mounted card itself", r + "/media/user/OTHER", false},
		{"mounted fstab card", r + "/srv/sd2/roms", false},
		{"outside the mount roots", r + "/elsewhere/card/roms", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCreatable(tt.path, w.roots, w.fstab, mountinfoPath)
			if tt.refused != errors.Is(err, ErrCardAbsent) {
				t.Fatalf("checkCreatable(%s) = %v; refused want %v", tt.path, err, tt.refused)
			}
			if !tt.refused && err != nil {
				t.Fatalf("checkCreatable(%s) = %v", tt.path, err)
			}
		})
	}
}

// TestCheckCreatableNamesTheMountPoint: the error says which folder is
// not a card.
func TestCheckCreatableNamesTheMountPoint(t *testing.T) {
	w := newCardWorld(t)
	err := checkCreatable(w.root+"/media/user/KNULLI/roms", w.roots, w.fstab, mountinfoPath)
	if err == nil || !strings.Contains(err.Error(), w.root+"/media/user/KNULLI ") {
		t.Errorf("error %v does not name %s/media/user/KNULLI", err, w.root)
	}
}

// TestCheckCreatableDefaultRoots uses the package's own roots and files:
// a temp folder is no card mount point.
func TestCheckCreatableDefaultRoots(t *testing.T) {
	if err := CheckCreatable(filepath.Join(t.TempDir(), "a", "b")); err != nil {
		t.Errorf("CheckCreatable(temp dir) = %v", err)
	}
	if len(CardMountRoots) != 3 || CardMountRoots[0] != "/media" || CardMountRoots[1] != "/run/media" || CardMountRoots[2] != "/mnt" {
		t.Errorf("CardMountRoots = %v, want /media, /run/media, /mnt", CardMountRoots)
	}
	if _, err := os.Stat("/mnt"); err == nil {
		if err := CheckCreatable("/mnt/romsyncd-test-no-such-card/roms"); !errors.Is(err, ErrCardAbsent) {
			t.Errorf("CheckCreatable(/mnt/…) = %v, want ErrCardAbsent", err)
		}
	}
}

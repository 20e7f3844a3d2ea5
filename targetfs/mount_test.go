package targetfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// writeFake writes content with "{root}" replaced by root to a file in a new
// temporary directory and returns its path.
func writeFake(t *testing.T, name, content, root string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(content, "{root}", root)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// realRoot returns a new temporary directory with symlinks resolved.
func realRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return root
}

const fakeMountinfo = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
41 26 7:0 / {root}/media/sd rw,nosuid,nodev,relatime - fuseblk /dev/loop0 rw,user_id=0,group_id=0,allow_other,blksize=4096
42 26 0:38 / {root}/media/sd2 rw,nosuid,nodev shared:7 master:1 - fuse.fusefat fusefat rw,user_id=0
43 26 8:17 / {root}/media/SD\040card rw,relatime - vfat /dev/sdb1 rw,fmask=0022
44 43 0:39 / {root}/media/SD\040card rw,relatime - tmpfs tmpfs rw,size=1024k
`

func TestMountOfFake(t *testing.T) {
	root := realRoot(t)
	mi := writeFake(t, "mountinfo", fakeMountinfo, root)
	if err := os.MkdirAll(filepath.Join(root, "media", "sd", "roms"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "media", "sd"), filepath.Join(root, "card")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want MountInfo
	}{
		{"/etc/passwd", MountInfo{MountPoint: "/", FSType: "ext4", Source: "/dev/vda", Options: "rw,relatime,discard", Major: 254}},
		{root + "/media/sd/roms/gba", MountInfo{MountPoint: root + "/media/sd", FSType: "fuseblk", Source: "/dev/loop0",
			Options: "rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other,blksize=4096", Major: 7}},
		{root + "/media/sd", MountInfo{MountPoint: root + "/media/sd", FSType: "fuseblk", Source: "/dev/loop0",
			Options: "rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other,blksize=4096", Major: 7}},
		{root + "/card/roms/missing/deeper", MountInfo{MountPoint: root + "/media/sd", FSType: "fuseblk", Source: "/dev/loop0",
			Options: "rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other,blksize=4096", Major: 7}},
		{root + "/media/sd2/x", MountInfo{MountPoint: root + "/media/sd2", FSType: "fuse.fusefat", Source: "fusefat",
			Options: "rw,nosuid,nodev,user_id=0", Minor: 38}},
		{root + "/media/sd20", MountInfo{MountPoint: "/", FSType: "ext4", Source: "/dev/vda", Options: "rw,relatime,discard", Major: 254}},
		{root + "/media/SD card/x", MountInfo{MountPoint: root + "/media/SD card", FSType: "tmpfs", Source: "tmpfs",
			Options: "rw,relatime,size=1024k", Minor: 39}},
	}
	for _, tt := range tests {
		got, err := mountOf(tt.path, mi)
		if err != nil {
			t.Errorf("mountOf(%s): %v", tt.path, err)
			continue
		}
		if got.MountInfo != tt.want {
			t.Errorf("mountOf(%s) =\n\t%+v\nwant\n\t%+v", tt.path, got.MountInfo, tt.want)
		}
	}
}

func TestMountOfReal(t *testing.T) {
	dir := testfs.Tmpfs(t, "1m")
	link := filepath.Join(realRoot(t), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "not", "yet"), filepath.Join(link, "x")} {
		m, err := MountOf(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.MountPoint != dir || m.FSType != "tmpfs" || m.Source != "tmpfs" {
			t.Errorf("MountOf(%s) = %+v, want the tmpfs at %s", p, m, dir)
		}
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for _, line := range []string{
		"26 1 254:0 / / rw,relatime ext4 /dev/vda rw",  // no separator
		"x 1 254:0 / / rw,relatime - ext4 /dev/vda rw", // bad ID
		"26 1 254 / / rw,relatime - ext4 /dev/vda rw",  // bad device
		"26 1 254:0 / / rw,relatime - ext4",            // no source
	} {
		if _, err := parseMountinfo(strings.NewReader(line + "\n")); !errors.Is(err, errMountinfoLine) {
			t.Errorf("parseMountinfo(%q) error %v, want errMountinfoLine", line, err)
		}
	}
}

const fakeFstab = `# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
UUID=1234-abcd  /               ext4    errors=remount-ro 0       1
UUID=5678       none            swap    sw              0       0
/swapfile       /swapfile       swap    sw              0       0
LABEL=ROMS	{root}/media/sd	exfat	noauto,nofail,uid=1000	0	0
LABEL=SD2       {root}/media/sd2 vfat   defaults        0 0
LABEL=NAS       {root}/nas      nfs     noauto          0 0
LABEL=NASSD     {root}/nas/sd   exfat   defaults        0 0
LABEL=SPACE     {root}/media/SD\040card vfat noauto     0 0
   # indented comment
proc            /proc           proc    defaults        0 0
tmpfs           {root}/ignored  ignore  defaults        0 0
`

// Mounted in the fake mountinfo: /, /proc, sd2, nas/sd.
const fakeFstabMountinfo = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
42 26 0:38 / {root}/media/sd2 rw,nosuid,nodev - fuse.fusefat fusefat rw
50 26 7:1 / {root}/nas/sd rw - fuseblk /dev/loop1 rw
`

func TestUnmountedFstabMount(t *testing.T) {
	root := realRoot(t)
	fstab := writeFake(t, "fstab", fakeFstab, root)
	mi := writeFake(t, "mountinfo", fakeFstabMountinfo, root)
	for _, d := range []string{"media/sd/roms", "media/SD card", "nas/sd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "media", "sd"), filepath.Join(root, "card")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		wantMP    string
		unmounted bool
	}{
		{"absent card (noauto)", root + "/media/sd/roms/gba", root + "/media/sd", true},
		{"absent card mount point itself", root + "/media/sd", root + "/media/sd", true},
		{"through a symlink", root + "/card/gba", root + "/media/sd", true},
		{"mounted card", root + "/media/sd2/gba", root + "/media/sd2", false},
		{"name prefix is not a path prefix", root + "/media/sd20/gba", "", false},
		{"escaped space", root + "/media/SD card/gba", root + "/media/SD card", true},
		{"deepest entry decides: mounted", root + "/nas/sd/gba", root + "/nas/sd", false},
		{"deepest entry decides: absent", root + "/nas/other", root + "/nas", true},
		{"only under /", root + "/elsewhere", "", false},
		{"ignore entry", root + "/ignored/x", "", false},
		{"swap file", "/swapfile", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, unmounted, err := unmountedFstabMount(tt.path, fstab, mi)
			if err != nil {
				t.Fatal(err)
			}
			if mp != tt.wantMP || unmounted != tt.unmounted {
				t.Errorf("unmountedFstabMount(%s) = %q, %v; want %q, %v", tt.path, mp, unmounted, tt.wantMP, tt.unmounted)
			}
		})
	}
}

func TestUnmountedFstabMountFiles(t *testing.T) {
	root := realRoot(t)
	mi := writeFake(t, "mountinfo", fakeFstabMountinfo, root)
	mp, unmounted, err := unmountedFstabMount(root+"/media/sd", filepath.Join(root, "no-fstab"), mi)
	if err != nil || mp != "" || unmounted {
		t.Errorf("without fstab: %q, %v, %v; want \"\", false, nil", mp, unmounted, err)
	}
	fstab := writeFake(t, "fstab", fakeFstab, root)
	_, _, err = unmountedFstabMount(root+"/media/sd", fstab, filepath.Join(root, "no-mountinfo"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("without mountinfo: %v, want not exist", err)
	}
}

// TestUnmountedFstabMountReal checks the real files: the temporary directory
// is not under an absent fstab mount.
func TestUnmountedFstabMountReal(t *testing.T) {
	mp, unmounted, err := UnmountedFstabMount(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if unmounted {
		t.Errorf("UnmountedFstabMount(TempDir) = %q, true: the temp dir is under an unmounted fstab entry", mp)
	}
}

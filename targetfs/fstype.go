package targetfs

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
)

// fsType returns what the filesystem of a mount really is. A fuseblk mount
// hides its type: it is read from the device's boot sector, or asked of
// blkid(8), and stays "fuseblk" when neither can tell. FUSE subtypes of
// known filesystems and kernel driver aliases map to the plain name.
func fsType(ctx context.Context, driver, source string) string {
	switch driver {
	case "fuseblk":
		if t := bootSectorType(source); t != "" {
			return t
		}
		if t := blkidType(ctx, source); t != "" {
			return t
		}
		return driver
	case "fuse.fusefat", "fuse.fatfs":
		return "vfat"
	case "fuse.exfat", "fuse.exfat-fuse":
		return "exfat"
	case "fuse.ntfs-3g", "fuse.ntfs", "ntfs3":
		return "ntfs"
	case "nfs4":
		return "nfs"
	case "smb3":
		return "cifs"
	}
	return driver
}

// bootSectorType identifies the filesystem on device from its first sector:
// the OEM name at bytes 3..10 for exFAT and NTFS, the file system type label at
// 82..89 (FAT32) or 54..61 (FAT12/16). It returns "" when the device cannot be
// read (no permission) or the sector is none of these.
func bootSectorType(device string) string {
	if !strings.HasPrefix(device, "/") {
		return ""
	}
	f, err := os.Open(device)
	if err != nil {
		return ""
	}
	defer f.Close()
	var b [512]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return ""
	}
	switch {
	case bytes.Equal(b[3:11], []byte("EXFAT   ")):
		return "exfat"
	case bytes.Equal(b[3:11], []byte("NTFS    ")):
		return "ntfs"
	case bytes.Equal(b[82:90], []byte("FAT32   ")),
		bytes.Equal(b[54:62], []byte("FAT16   ")),
		bytes.Equal(b[54:62], []byte("FAT12   ")):
		return "vfat"
	}
	return ""
}

// blkidType asks blkid(8) for the type of device, or returns "".
func blkidType(ctx context.Context, device string) string {
	if !strings.HasPrefix(device, "/") {
		return ""
	}
	out, err := exec.CommandContext(ctx, "blkid", "-o", "value", "-s", "TYPE", device).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// fatFamily reports whether fstype is a FAT filesystem (which rejects
// `"*:<>?\|` and trailing dots and spaces on Windows and in kernel drivers).
func fatFamily(fstype string) bool {
	switch fstype {
	case "vfat", "msdos", "fat", "exfat":
		return true
	}
	return false
}

func isFUSE(driver string) bool {
	return driver == "fuse" || driver == "fuseblk" || strings.HasPrefix(driver, "fuse.")
}

// networkTypes are filesystems whose data lives on another machine: other
// writers do not produce inotify events, and the link can drop mid-pass.
var networkTypes = map[string]bool{
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true,
	"ncpfs": true, "9p": true, "afs": true, "ceph": true, "glusterfs": true,
	"lustre": true, "davfs": true, "coda": true, "ocfs2": true, "gfs2": true,
	"fuse.sshfs": true, "fuse.rclone": true, "fuse.s3fs": true,
	"fuse.glusterfs": true, "fuse.ceph-fuse": true, "fuse.curlftpfs": true,
	"fuse.gcsfuse": true, "fuse.juicefs": true, "fuse.smbnetfs": true,
	"fuse.gvfsd-fuse": true, "fuse.davfs": true,
}

const (
	tib = int64(1) << 40
	// fat32MaxFile is the largest file FAT32 can hold: its size field is 32 bits.
	fat32MaxFile = int64(1)<<32 - 1
)

// maxFileSize returns the largest file a filesystem of type fstype with
// block size bsize can hold:
//
//   - vfat, msdos: 4 GiB − 1 (a 32-bit size field).
//   - ext4: 2³² − 1 blocks (extent-mapped), 16 TiB − 4 KiB with 4 KiB blocks.
//   - ext2, ext3: 16 GiB, 256 GiB and 2 TiB with 1, 2 and 4 KiB blocks.
//   - exfat (16 EiB − 1), xfs and btrfs (8 EiB and 16 EiB), tmpfs, and every
//     type not listed: math.MaxInt64 (8 EiB − 1), the most an int64 holds,
//     meaning "no limit a ROM will reach" (a copy still handles EFBIG).
func maxFileSize(fstype string, bsize int64) int64 {
	switch fstype {
	case "vfat", "msdos", "fat":
		return fat32MaxFile
	case "ext4":
		if bsize > 0 {
			return (int64(1)<<32 - 1) * bsize
		}
		return 16 * tib
	case "ext2", "ext3":
		switch {
		case bsize <= 1024:
			return 16 << 30
		case bsize <= 2048:
			return 256 << 30
		default:
			return 2 * tib
		}
	}
	return math.MaxInt64
}

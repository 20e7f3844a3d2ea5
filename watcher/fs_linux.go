//go:build linux

package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// fsType names a filesystem magic number (statfs(2) f_type) and says whether
// inotify can miss changes made to it, because they are made by another
// machine (NFS, SMB, Ceph, ...) or reach the files without passing through
// this kernel's VFS (FUSE servers, hypervisor shared folders).
type fsType struct {
	name    string
	network bool
}

var fsTypes = map[uint32]fsType{
	unix.NFS_SUPER_MAGIC:   {"nfs", true},
	unix.SMB_SUPER_MAGIC:   {"smb", true},
	unix.CIFS_SUPER_MAGIC:  {"cifs", true},
	unix.SMB2_SUPER_MAGIC:  {"smb2", true},
	unix.FUSE_SUPER_MAGIC:  {"fuse", true},
	unix.V9FS_MAGIC:        {"9p", true},
	unix.CEPH_SUPER_MAGIC:  {"ceph", true},
	unix.AFS_SUPER_MAGIC:   {"afs", true},
	unix.AFS_FS_MAGIC:      {"afs", true},
	unix.CODA_SUPER_MAGIC:  {"coda", true},
	unix.NCP_SUPER_MAGIC:   {"ncp", true},
	unix.OCFS2_SUPER_MAGIC: {"ocfs2", true},
	0x01161970:             {"gfs2", true},   // GFS2_MAGIC
	0x0bd00bd0:             {"lustre", true}, // LL_SUPER_MAGIC
	0x47504653:             {"gpfs", true},   // "GPFS"
	0x786f4256:             {"vboxsf", true}, // VBOXSF_SUPER_MAGIC
	0x19830326:             {"beegfs", true}, // BEEGFS_MAGIC

	// Local filesystems, named so that check-config can say what it found.
	unix.EXT4_SUPER_MAGIC:      {"ext2/ext3/ext4", false},
	unix.XFS_SUPER_MAGIC:       {"xfs", false},
	unix.BTRFS_SUPER_MAGIC:     {"btrfs", false},
	unix.BCACHEFS_SUPER_MAGIC:  {"bcachefs", false},
	unix.F2FS_SUPER_MAGIC:      {"f2fs", false},
	unix.TMPFS_MAGIC:           {"tmpfs", false},
	unix.RAMFS_MAGIC:           {"ramfs", false},
	unix.OVERLAYFS_SUPER_MAGIC: {"overlayfs", false},
	unix.MSDOS_SUPER_MAGIC:     {"vfat", false},
	unix.EXFAT_SUPER_MAGIC:     {"exfat", false},
	unix.REISERFS_SUPER_MAGIC:  {"reiserfs", false},
	unix.NILFS_SUPER_MAGIC:     {"nilfs2", false},
	unix.ISOFS_SUPER_MAGIC:     {"iso9660", false},
	unix.UDF_SUPER_MAGIC:       {"udf", false},
	unix.SQUASHFS_MAGIC:        {"squashfs", false},
	0x2fc12fc1:                 {"zfs", false},   // ZFS_SUPER_MAGIC
	0x5346544e:                 {"ntfs", false},  // NTFS_SB_MAGIC
	0x7366746e:                 {"ntfs3", false}, // ntfs3 driver
	0x3153464a:                 {"jfs", false},   // JFS_SUPER_MAGIC
}

// describeFS returns the name of the filesystem with the magic number magic
// and whether it is polled in ModeAuto. Unknown types are named by their
// number and treated as local.
func describeFS(magic uint32) (name string, network bool) {
	if t, ok := fsTypes[magic]; ok {
		return t.name, t.network
	}
	return fmt.Sprintf("0x%x", magic), false
}

// IsNetworkFS reports whether path is on a filesystem where inotify misses
// changes (NFS, SMB/CIFS, FUSE, 9p, Ceph, ...), and names that filesystem
// ("nfs", "cifs", "fuse", "ext2/ext3/ext4", or the magic number in hex when
// it is unknown). ModeAuto polls such roots; `romsyncd check-config` reports
// the result.
func IsNetworkFS(path string) (bool, string, error) {
	var st unix.Statfs_t
	for {
		err := unix.Statfs(path, &st)
		if err == nil {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return false, "", fmt.Errorf("statfs %s: %w", path, err)
	}
	// f_type is a long; the magic numbers are 32-bit (CIFS' has the top bit
	// set, which a 32-bit long makes negative).
	name, network := describeFS(uint32(st.Type))
	return network, name, nil
}

// inodeAndCtime returns the inode number and change time (ns) of fi.
func inodeAndCtime(fi fs.FileInfo) (ino uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return st.Ino, st.Ctim.Nano()
}

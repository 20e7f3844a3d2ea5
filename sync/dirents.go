package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// direntBuf is the getdents64 buffer: 64 KiB holds about a thousand ROM
// names, so a folder of a few thousand takes a few calls instead of the
// dozens os.File.ReadDir's 8 KiB buffer needs.
const direntBuf = 64 << 10

// dirent is one folder entry as the kernel lists it: its name and its
// d_type (unix.DT_*; DT_UNKNOWN where the filesystem does not say).
type dirent struct {
	name string
	typ  uint8
}

// openDir opens the folder at path for listing.
func openDir(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// readDirents lists the open folder fd ("." and ".." left out). Names
// share one string per getdents64 call.
func readDirents(fd int, path string) ([]dirent, error) {
	buf := make([]byte, direntBuf)
	var out []dirent
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: path, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		chunk := string(buf[:n])
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			if off+19 > n {
				return nil, fmt.Errorf("readdirent %s: %w", path, errors.New("short record"))
			}
			reclen := int(*(*uint16)(unsafe.Pointer(&buf[off+16])))
			if reclen < 19 || off+reclen > n {
				return nil, fmt.Errorf("readdirent %s: record length %d", path, reclen)
			}
			typ := buf[off+18]
			name := chunk[off+19 : off+reclen]
			for i := 0; i < len(name); i++ {
				if name[i] == 0 {
					name = name[:i]
					break
				}
			}
			off += reclen
			if name == "." || name == ".." {
				continue
			}
			out = append(out, dirent{name: name, typ: typ})
		}
	}
}

// listDir opens and lists the folder at path; the caller closes fd.
func listDir(path string) (fd int, ents []dirent, err error) {
	fd, err = openDir(path)
	if err != nil {
		return -1, nil, err
	}
	ents, err = readDirents(fd, path)
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, ents, nil
}

// isNotExist reports a missing folder (os.IsNotExist for raw errors too).
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) || os.IsNotExist(err) }

package testfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type mountFunc func(testing.TB, string) string

var kinds = []struct {
	name   string
	mount  mountFunc
	size   string
	fstype string
	keeps  bool // files survive Unmount + Remount
}{
	{"tmpfs", Tmpfs, "16m", "tmpfs", false},
	{"exFAT", ExFAT, "64M", "fuseblk", true},
	{"FAT32", FAT32, "64M", "fuse.fusefat", true},
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: read %q, want %q", path, got, want)
	}
}

func checkMountType(t *testing.T, dir, want string) {
	t.Helper()
	got, err := mountType(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("mountinfo type at %s = %q, want %q", dir, got, want)
	}
}

func TestMountAndCleanup(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			var dir, image string
			t.Run("mount", func(t *testing.T) {
				dir = k.mount(t, k.size)
				checkMountType(t, dir, k.fstype)
				image = lookup(t, dir).image
				data := []byte("Pokémon (USA).gba\n")
				writeFile(t, filepath.Join(dir, "rom.gba"), data)
				checkFile(t, filepath.Join(dir, "rom.gba"), data)
			})
			if dir == "" {
				return // skipped
			}
			if isMounted(dir) {
				t.Errorf("%s still mounted after cleanup", dir)
			}
			if image != "" {
				if h := imageHolder(image); h != "" {
					t.Errorf("image %s still held by %s after cleanup", image, h)
				}
			}
			mu.Lock()
			_, registered := mounts[dir]
			mu.Unlock()
			if registered {
				t.Errorf("%s still registered after cleanup", dir)
			}
		})
	}
}

func TestUnmountRemount(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dir := k.mount(t, k.size)
			path := filepath.Join(dir, "save.sav")
			data := []byte("slot 1")
			writeFile(t, path, data)

			Unmount(t, dir, false)
			checkMountType(t, dir, "")
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat %s after unmount: %v, want not exist", path, err)
			}

			Remount(t, dir)
			checkMountType(t, dir, k.fstype)
			if k.keeps {
				checkFile(t, path, data)
			} else if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat %s after tmpfs remount: %v, want not exist", path, err)
			}
		})
	}
}

// TestLazyUnmountOpenFile pulls the card while a file on it is open for
// writing: the write goes on through the detached mount, and Remount waits
// until the old FUSE process let go of the image.
func TestLazyUnmountOpenFile(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dir := k.mount(t, k.size)
			path := filepath.Join(dir, "open.bin")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("before ")); err != nil {
				t.Fatal(err)
			}

			Unmount(t, dir, true)
			checkMountType(t, dir, "")
			if _, err := f.Write([]byte("after")); err != nil {
				t.Fatalf("write after lazy unmount: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("close after lazy unmount: %v", err)
			}

			Remount(t, dir)
			checkMountType(t, dir, k.fstype)
			if k.keeps {
				checkFile(t, path, []byte("before after"))
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true},
		{"4k", 4 << 10, true},
		{"64M", 64 << 20, true},
		{"1G", 1 << 30, true},
		{"2t", 2 << 40, true},
		{"", 0, false},
		{"M", 0, false},
		{"-1M", 0, false},
		{"0", 0, false},
		{"10%", 0, false},
		{"1.5G", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/media/sd", "/media/sd"},
		{`/media/SD\040card`, "/media/SD card"},
		{`/a\011b\012c\134d`, "/a\tb\nc\\d"},
		{`/trailing\04`, `/trailing\04`},
		{`/not\9999octal`, `/not\9999octal`},
	}
	for _, tt := range tests {
		if got := unescapeOctal(tt.in); got != tt.want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestSkipMessages(t *testing.T) {
	tests := []struct {
		name    string
		require string
		call    func(testing.TB)
		want    string
	}{
		{"missing tool", "", func(tb testing.TB) { requireTool(tb, kindExFAT, "mkfs.nothing", "exfatprogs") },
			"needs mkfs.nothing to mount exFAT: apt-get install exfatprogs"},
		{"not root", "", func(tb testing.TB) { skip(tb, "needs root to mount %s: run as root, CI does", kindFAT32) },
			"needs root to mount FAT32: run as root, CI does"},
		{"required", "1", func(tb testing.TB) { requireTool(tb, kindFAT32, "fusefat-nothing", "fusefat") },
			"needs fusefat-nothing to mount FAT32: apt-get install fusefat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.require)
			r := &recorder{TB: t}
			tt.call(r)
			got := r.skipped
			if tt.require != "" {
				got = r.failed
				if r.skipped != "" {
					t.Errorf("skipped although %s is set: %q", RequireEnv, r.skipped)
				}
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
}

package watcher

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{in: "auto", want: ModeAuto},
		{in: "notify", want: ModeNotify},
		{in: "poll", want: ModePoll},
		{in: "", wantErr: true},
		{in: "Poll", wantErr: true},
		{in: "inotify", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if tc.wantErr {
				assert.ErrorContains(t, err, "want auto, notify or poll")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, got.String(), "String round-trips")
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	ok := Options{Root: dir, PollInterval: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no root", func(o *Options) { o.Root = "" }, "no source root"},
		{"missing root", func(o *Options) { o.Root = filepath.Join(dir, "nope") }, "no such file or directory"},
		{"root is a file", func(o *Options) { o.Root = file }, "not a directory"},
		{"negative debounce", func(o *Options) { o.Debounce = -time.Second }, "debounce"},
		{"negative max delay", func(o *Options) { o.MaxDelay = -time.Second }, "max delay"},
		{"zero poll interval", func(o *Options) { o.PollInterval = 0 }, "poll interval"},
		{"unknown mode", func(o *Options) { o.Mode = 7 }, "unknown mode Mode(7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			_, err := New(o)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	_, err := New(ok)
	assert.NoError(t, err)
}

func TestRunTwiceFails(t *testing.T) {
	rec := &recorder{}
	w := startWatcher(t, Options{Root: t.TempDir(), Mode: ModePoll, PollInterval: time.Second}, rec.emit)
	err := w.Run(context.Background(), rec.emit)
	assert.ErrorContains(t, err, "Run called more than once")
}

func TestDescribeFS(t *testing.T) {
	for _, tc := range []struct {
		magic   uint32
		name    string
		network bool
	}{
		{0x6969, "nfs", true},
		{0xff534d42, "cifs", true},
		{0x517b, "smb", true},
		{0xfe534d42, "smb2", true},
		{0x65735546, "fuse", true},
		{0x01021997, "9p", true},
		{0x00c36400, "ceph", true},
		{0xef53, "ext2/ext3/ext4", false},
		{0x01021994, "tmpfs", false},
		{0x12345678, "0x12345678", false},
	} {
		name, network := describeFS(tc.magic)
		assert.Equal(t, tc.name, name, "magic %#x", tc.magic)
		assert.Equal(t, tc.network, network, "magic %#x", tc.magic)
	}
}

func TestIsNetworkFSLocal(t *testing.T) {
	network, name, err := IsNetworkFS(t.TempDir())
	require.NoError(t, err)
	assert.False(t, network, "the test's temporary folder is on %s", name)
	assert.NotEmpty(t, name)

	missing := filepath.Join(t.TempDir(), "missing")
	_, _, err = IsNetworkFS(missing)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "statfs "+missing)
}

func TestIsNetworkFSTmpfs(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	require.NoError(t, syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"))
	t.Cleanup(func() { assert.NoError(t, syscall.Unmount(dir, 0)) })
	network, name, err := IsNetworkFS(dir)
	require.NoError(t, err)
	assert.False(t, network)
	assert.Equal(t, "tmpfs", name)
}

// mountLoopback serves backing through a FUSE loopback filesystem at a new
// folder and returns that folder. Writes made in backing reach the files
// without passing through the mount, like changes made on a NAS by another
// machine: inotify on the mount never sees them.
func mountLoopback(t *testing.T, backing string) string {
	t.Helper()
	requireRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE: %v", err)
	}
	mnt := t.TempDir()
	root, err := fs.NewLoopbackRoot(backing)
	require.NoError(t, err)
	zero := time.Duration(0)
	server, err := fs.Mount(mnt, root, &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions:    fuse.MountOptions{DirectMount: true, FsName: "romsyncd-test"},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, server.Unmount())
		server.Wait()
	})
	return mnt
}

func TestAutoModePollsAFUSERootAndSeesChangesMadeBehindIt(t *testing.T) {
	backing := t.TempDir()
	mkdirs(t, backing, "gba", "snes")
	mnt := mountLoopback(t, backing)

	network, name, err := IsNetworkFS(mnt)
	require.NoError(t, err)
	assert.True(t, network)
	assert.Equal(t, "fuse", name)

	rec := &recorder{}
	w := startWatcher(t, Options{Root: mnt, Mode: ModeAuto, PollInterval: 20 * time.Millisecond, MaxDelay: time.Second}, rec.emit)
	st := w.Stats()
	assert.Equal(t, "poll", st.Mode)
	assert.Equal(t, 3, st.Polled)
	assert.Zero(t, st.Watches)

	m := rec.mark()
	writeFile(t, backing, "gba/Advance Wars (USA).gba", "rom")
	rec.waitDirs(t, m, "gba")
}

func TestAutoModeWatchesALocalRoot(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "gba")
	rec := &recorder{}
	w := startWatcher(t, Options{Root: root, Mode: ModeAuto, PollInterval: time.Second}, rec.emit)
	st := w.Stats()
	assert.Equal(t, "notify", st.Mode)
	assert.Equal(t, 2, st.Watches)
	assert.Zero(t, st.Polled)
}

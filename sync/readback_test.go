package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/romsyncd/romsyncd/targetfs"
)

// deviceReads returns the bytes read from a block device so far
// (/sys/block/<dev>/stat, sectors of 512 bytes).
func deviceReads(t *testing.T, dev string) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "stat"))
	require.NoError(t, err)
	f := strings.Fields(string(data))
	require.GreaterOrEqual(t, len(f), 3)
	n, err := strconv.ParseInt(f[2], 10, 64)
	require.NoError(t, err)
	return n * 512
}

// TestVerifyReadsTheCard: on exfat-fuse the driver reads the card through
// the block device's cache, so a read-back right after the write came
// from memory and proved nothing beyond the hash taken while writing
// (measured: 4,000 files verified, no byte of them read from the device).
// romsyncd drops that cache after each batch's flush: the read-back reads
// the card. Where the device cannot be opened the read-back is skipped.
func TestVerifyReadsTheCard(t *testing.T) {
	mnt := testfs.ExFAT(t, "128M")
	info, err := targetfs.Probe(context.Background(), mnt, mnt)
	require.NoError(t, err)
	require.Equal(t, "fuseblk", info.Driver)
	src := t.TempDir()
	const files, size = 40, 256 << 10
	for i := range files {
		p := filepath.Join(src, "GB", fmt.Sprintf("game %02d.gb", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, content(fmt.Sprint(i), size), 0o644))
	}
	run := func(target string, verify bool, device string) (*Report, int64) {
		t.Helper()
		opts := Options{Profile: "readback", Source: src, Target: filepath.Join(mnt, target), Workers: 1, Verify: verify,
			StateDir: t.TempDir(), Probe: func(ctx context.Context, root, scratch string, o *Options) error {
				if err := daemonProbe(ctx, root, scratch, o); err != nil {
					return err
				}
				o.BlockDevice = device
				return nil
			}}
		before := deviceReads(t, info.Device)
		r := mustRun(t, opts)
		require.Empty(t, r.Errors)
		require.Equal(t, files, r.Copied)
		return r, deviceReads(t, info.Device) - before
	}
	_, plain := run("noverify", false, info.Device)
	r, verified := run("verify", true, info.Device)
	assert.Equal(t, int64(2*files*size), r.HashedBytes, "every byte hashed twice: written, read back")
	assert.GreaterOrEqual(t, verified-plain, int64(files*size), "the read-back read the card (device reads %d with verify, %d without)", verified, plain)
	t.Logf("device reads: %d bytes without verify, %d with", plain, verified)

	r, unreadable := run("nodevice", true, filepath.Join(t.TempDir(), "no-such-device"))
	assert.Equal(t, int64(files*size), r.HashedBytes, "no read-back where the device cannot be read")
	assert.Less(t, unreadable-plain, int64(files*size)/2)
	checkConverged(t, filepath.Join(mnt, "verify"), libraryFiles(t, src), nil)
	checkConverged(t, filepath.Join(mnt, "nodevice"), libraryFiles(t, src), nil)
}

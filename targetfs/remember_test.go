package targetfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/romsyncd/romsyncd/internal/testfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forget empties the in-process cache: the next Probe behaves as in a new
// process.
func forget() {
	cache.Lock()
	clear(cache.m)
	cache.Unlock()
}

// TestProbeRememberedAcrossRuns: a card probed once is not probed again by
// the next run (no probe file is written on it), while another card, a
// damaged results file or other mount options are probed afresh.
func TestProbeRememberedAcrossRuns(t *testing.T) {
	dir := testfs.ExFAT(t, "64M")
	scratch := scratchDir(t, dir)
	file := filepath.Join(t.TempDir(), "state", "probes.json")
	card := Remember{File: file, ID: "c8e28946277d611f"}
	probe := func(r Remember) Info {
		t.Helper()
		forget()
		info, err := ProbeRemembering(context.Background(), dir, scratch, r)
		require.NoError(t, err)
		checkEmpty(t, scratch)
		return info
	}

	before := probes.Load()
	first := probe(card)
	require.Equal(t, int64(1), probes.Load()-before)
	require.FileExists(t, file)

	st, err := os.Stat(scratch)
	require.NoError(t, err)
	again := probe(card)
	assert.Equal(t, int64(1), probes.Load()-before, "the second run recalls")
	after, err := os.Stat(scratch)
	require.NoError(t, err)
	assert.Equal(t, st.ModTime(), after.ModTime(), "nothing written on the card")
	first.Free, again.Free = 0, 0
	assert.Equal(t, first, again)
	assert.NotZero(t, again.Total, "space is read afresh")
	assert.Equal(t, dir, again.MountPoint)

	probe(Remember{File: file, ID: "another card"})
	assert.Equal(t, int64(2), probes.Load()-before, "another card is probed")
	probe(card)
	assert.Equal(t, int64(2), probes.Load()-before, "both are remembered")

	require.NoError(t, os.WriteFile(file, []byte("{garbage"), 0o600))
	probe(card)
	assert.Equal(t, int64(3), probes.Load()-before, "a damaged file is probed again")

	probe(Remember{})
	assert.Equal(t, int64(4), probes.Load()-before, "without an identity nothing is recalled")

	// Other mount options (here: read back as different) are another
	// identity: the same card mounted otherwise is probed again.
	f := card.read()
	require.Len(t, f.Filesystems, 1)
	m := MountInfo{FSType: f.Filesystems[0].Driver, Options: f.Filesystems[0].Options}
	_, ok := card.recall(m)
	assert.True(t, ok)
	m.Options += ",iocharset=iso8859-1"
	_, ok = card.recall(m)
	assert.False(t, ok)
}

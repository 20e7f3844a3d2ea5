package sync

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBeingWritten(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	w, err := os.Create(p)
	require.NoError(t, err)
	_, err = w.Write([]byte("half"))
	require.NoError(t, err)

	r, err := os.Open(p)
	require.NoError(t, err)
	defer r.Close()
	assert.True(t, beingWritten(int(r.Fd()), time.Now()), "a writer holds it open")
	assert.False(t, beingWritten(int(r.Fd()), time.Now().Add(-time.Hour)), "old files are not checked")

	require.NoError(t, w.Close())
	assert.False(t, beingWritten(int(r.Fd()), time.Now()), "the writer closed it")
}

// A file whose writer paused (so its size and mtime did not move while it
// was read) is still not installed while the writer holds it open.
func TestAFileStillOpenForWritingIsBusy(t *testing.T) {
	e := newEnv(t)
	writeTree(t, e.src, map[string]string{"gb/a.gb": "a"})
	w, err := os.Create(filepath.Join(e.src, "gb", "big.gb"))
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	r, err := e.pass(t)
	require.NoError(t, err)
	require.Len(t, r.Skipped, 1)
	assert.Contains(t, r.Skipped[0].Reason, "busy")
	assert.NotContains(t, readTree(t, e.dst), "gb/big.gb")

	_, err = w.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	r = e.mustPass(t)
	assert.True(t, r.InSync)
	assert.Len(t, readTree(t, e.dst)["gb/big.gb"], 2<<20)
}

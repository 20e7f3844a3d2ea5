package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSystemdNotifications listens where systemd would and checks the
// daemon's READY/RELOADING/STOPPING/STATUS/WATCHDOG messages.
func TestSystemdNotifications(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "rsn")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", addr)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")

	var mu stdsync.Mutex
	var got []string
	var wg stdsync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, strings.Split(string(buf[:n]), "\n")...)
			mu.Unlock()
		}
	})
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	seen := func(prefix string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range got {
				if strings.HasPrefix(m, prefix) {
					return true
				}
			}
			return false
		}
	}

	h := newHarness(t, "")
	h.write("gb/a.gb", "a")
	h.start()
	h.waitFor("READY=1", seen("READY=1"))
	h.waitFor("STATUS=", seen("STATUS=1 profile(s)"))
	h.waitFor("WATCHDOG=1", seen("WATCHDOG=1"))
	h.reload <- syscall.SIGHUP
	h.waitFor("RELOADING=1", seen("RELOADING=1"))
	h.stop()
	h.waitFor("STOPPING=1", seen("STOPPING=1"))
}

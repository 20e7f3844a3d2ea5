// Package testbus starts a private D-Bus message bus for a test, and
// udisks2 on it (Udisks, DesktopCard) for the tests of card discovery and
// eject.
//
// The bus is a dbus-daemon of its own, with a configuration written by the
// test (permissive: any client may own any name and call anything), on a
// socket in a t.TempDir folder; it never touches the machine's session or
// system bus. The daemon is a child of the test process and is stopped in
// t.Cleanup. Without dbus-daemon (Debian package dbus-daemon) the test is
// skipped, or fails when ROMSYNCD_REQUIRE_MOUNTS=1 (as CI sets).
package testbus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireEnv turns a skip for a missing tool into a failure (CI).
const requireEnv = "ROMSYNCD_REQUIRE_MOUNTS"

// startTimeout bounds the wait for the bus to print its address.
const startTimeout = 10 * time.Second

// Kind is the type of bus: it decides dbus-daemon's defaults only.
type Kind string

// The kinds of bus.
const (
	Session Kind = "session"
	System  Kind = "system"
)

const configTemplate = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>%s</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// Start starts a private bus of kind and returns its address, to pass to
// dbus.Connect or to put in DBUS_SESSION_BUS_ADDRESS or
// DBUS_SYSTEM_BUS_ADDRESS of the processes that should use it.
func Start(t testing.TB, kind Kind) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		skip(t, "testbus: dbus-daemon is not installed (apt-get install dbus-daemon)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, configTemplate, kind, sock), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "bus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		skip(t, "testbus: start %s: %v", daemon, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("testbus: dbus-daemon printed no address: %s", log)
		}
		return a
	case <-time.After(startTimeout):
		t.Fatalf("testbus: dbus-daemon printed no address within %v", startTimeout)
	}
	return ""
}

func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf(format+" (%s=1)", append(args, requireEnv)...)
	}
	t.Skipf(format, args...)
}

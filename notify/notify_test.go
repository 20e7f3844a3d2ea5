package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/romsyncd/romsyncd/internal/testbus"
)

// call is one Notify a test server received.
type call struct {
	App, Icon, Summary, Body string
	Replaces                 uint32
	Hints                    map[string]dbus.Variant
	Timeout                  int32
}

// server is a notification server for tests: it owns
// org.freedesktop.Notifications on the bus and records every Notify.
type server struct {
	calls chan call
	next  uint32
}

func (s *server) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	id := replaces
	if id == 0 {
		s.next++
		id = s.next
	}
	s.calls <- call{App: app, Icon: icon, Summary: summary, Body: body, Replaces: replaces, Hints: hints, Timeout: timeout}
	return id, nil
}

func (s *server) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

func (s *server) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "testserver", "romsyncd", "1", "1.2", nil
}

func serve(t *testing.T, addr string) *server {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &server{calls: make(chan call, 8)}
	if err := conn.Export(s, path, service); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(service, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v (reply %v)", service, err, reply)
	}
	return s
}

func received(t *testing.T, s *server) call {
	t.Helper()
	select {
	case c := <-s.calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the notification server received nothing")
	}
	return call{}
}

func TestNotifyReachesTheServer(t *testing.T) {
	addr := testbus.Start(t, testbus.Session)
	s := serve(t, addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	n, err := Open("romsyncd")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()

	busy, err := n.Notify(ctx, Syncing("MIYOO", "miyoo"))
	if err != nil {
		t.Fatal(err)
	}
	c := received(t, s)
	if c.App != "romsyncd" || c.Summary != "Syncing MIYOO: do not remove" || c.Timeout != 0 || c.Hints["transient"].Value() != true {
		t.Errorf("syncing notification = %+v", c)
	}

	done := SafeToRemove("MIYOO", "miyoo")
	done.Replaces = busy
	id, err := n.Notify(ctx, done)
	if err != nil {
		t.Fatal(err)
	}
	c = received(t, s)
	want := call{App: "romsyncd", Icon: "media-removable", Summary: "MIYOO is in sync",
		Body: "romsyncd finished miyoo: the card is safe to remove.", Replaces: busy, Timeout: -1}
	if c.App != want.App || c.Icon != want.Icon || c.Summary != want.Summary || c.Body != want.Body || c.Replaces != want.Replaces || c.Timeout != want.Timeout {
		t.Errorf("safe-to-remove notification = %+v, want %+v", c, want)
	}
	if c.Hints["urgency"].Value() != byte(Normal) || c.Hints["category"].Value() != "transfer.complete" {
		t.Errorf("hints = %v", c.Hints)
	}
	if id != busy {
		t.Errorf("the replacing notification got id %d, want %d", id, busy)
	}
}

func TestNotifyWithoutServer(t *testing.T) {
	addr := testbus.Start(t, testbus.Session)
	n, err := OpenAddress(addr, "romsyncd")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Notify(context.Background(), Ejected("MIYOO")); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Notify with no server = %v, want ErrNoServer", err)
	}
}

func TestOpenWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if sessionAddress() != "" {
		t.Skip("this user has a bus at /run/user/UID/bus")
	}
	if _, err := Open("romsyncd"); !errors.Is(err, ErrNoSessionBus) {
		t.Fatalf("Open without a session bus = %v, want ErrNoSessionBus", err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+t.TempDir()+"/none")
	if _, err := Open("romsyncd"); !errors.Is(err, ErrNoSessionBus) {
		t.Fatalf("Open with a dead session bus = %v, want ErrNoSessionBus", err)
	}
}

package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/testbus"
)

func received(t *testing.T, calls <-chan testbus.Notification) testbus.Notification {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the notification server received nothing")
	}
	return testbus.Notification{}
}

func TestNotifyReachesTheServer(t *testing.T) {
	addr := testbus.Start(t, testbus.Session)
	s := testbus.NotificationServer(t, addr)
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
	want := testbus.Notification{App: "romsyncd", Icon: "media-removable", Summary: "MIYOO is in sync",
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

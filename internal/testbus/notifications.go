package testbus

import (
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
)

// Notification is one Notify call a NotificationServer received.
type Notification struct {
	App, Icon, Summary, Body string
	Replaces                 uint32
	Hints                    map[string]dbus.Variant
	Timeout                  int32
	ID                       uint32 // the id the server answered
}

// notifier owns org.freedesktop.Notifications for a test.
type notifier struct {
	mu    sync.Mutex
	next  uint32
	calls chan Notification
}

// Notify implements the specification's Notify method.
func (s *notifier) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.mu.Lock()
	id := replaces
	if id == 0 {
		s.next++
		id = s.next
	}
	s.mu.Unlock()
	s.calls <- Notification{App: app, Icon: icon, Summary: summary, Body: body, Replaces: replaces, Hints: hints, Timeout: timeout, ID: id}
	return id, nil
}

// GetCapabilities implements the specification's method.
func (s *notifier) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

// GetServerInformation implements the specification's method.
func (s *notifier) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "testbus", "romsyncd", "1", "1.2", nil
}

// NotificationServer owns org.freedesktop.Notifications on the bus at addr,
// as a desktop's notification server does, and sends every notification it
// receives on the returned channel (buffered; a test that expects more than
// 64 must read them as they come).
func NotificationServer(t testing.TB, addr string) <-chan Notification {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("testbus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &notifier{calls: make(chan Notification, 64)}
	const name, path = "org.freedesktop.Notifications", "/org/freedesktop/Notifications"
	if err := conn.Export(s, path, name); err != nil {
		t.Fatalf("testbus: %v", err)
	}
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("testbus: own %s: %v (reply %v)", name, err, reply)
	}
	return s.calls
}

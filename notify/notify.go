// Package notify shows desktop notifications ("MIYOO is in sync: safe to
// remove") through org.freedesktop.Notifications on the user's session
// D-Bus.
//
// Under the user unit, systemd gives romsyncd the session bus of the
// logged-in user ($DBUS_SESSION_BUS_ADDRESS, or /run/user/UID/bus); the
// desktop's notification server (GNOME Shell, KDE Plasma, mako, dunst …)
// owns org.freedesktop.Notifications there. The system unit has no session
// bus: Open then fails with ErrNoSessionBus and the daemon keeps to its log,
// status and systemd STATUS lines. No bus is ever started (no autolaunch).
package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/godbus/dbus/v5"
)

// The notification service (Desktop Notifications Specification 1.2).
const (
	service = "org.freedesktop.Notifications"
	path    = "/org/freedesktop/Notifications"
	method  = service + ".Notify"
)

// Errors Open and Notify wrap, for callers that act on them.
var (
	// ErrNoSessionBus: the process has no session bus (system unit, no
	// login session).
	ErrNoSessionBus = errors.New("no session D-Bus")
	// ErrNoServer: nothing on the session bus shows notifications.
	ErrNoServer = errors.New("no notification server on the session bus")
)

// Urgency is the notification's urgency level.
type Urgency byte

// The urgency levels of the specification.
const (
	Low      Urgency = 0
	Normal   Urgency = 1
	Critical Urgency = 2
)

// Notification is one desktop notification.
type Notification struct {
	Summary string // one line: "MIYOO is in sync"
	Body    string // may hold simple markup on some servers; keep it plain
	Icon    string // a freedesktop icon name: "media-removable"
	Urgency Urgency
	// Category is a hint for the server: "device", "transfer.complete".
	Category string
	// Transient notifications are not kept in the server's history.
	Transient bool
	// Timeout is how long the notification stays: 0 is the server's
	// default, -1 until the user closes it.
	Timeout time.Duration
	// Replaces is the id of an earlier notification this one replaces (the
	// "syncing, do not remove" of the same card), 0 for none.
	Replaces uint32
}

// Notifier sends notifications over one connection to the session bus.
type Notifier struct {
	conn *dbus.Conn
	app  string
}

// Open connects to the session bus of this process: the address in
// $DBUS_SESSION_BUS_ADDRESS, else the user bus /run/user/UID/bus. app is the
// application name the server shows ("romsyncd").
func Open(app string) (*Notifier, error) {
	addr := sessionAddress()
	if addr == "" {
		return nil, fmt.Errorf("notify: %w ($DBUS_SESSION_BUS_ADDRESS is not set and /run/user/%d/bus does not exist)", ErrNoSessionBus, os.Getuid())
	}
	return OpenAddress(addr, app)
}

// OpenAddress connects to the bus at addr ("unix:path=/run/user/1000/bus").
func OpenAddress(addr, app string) (*Notifier, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("notify: connect to session bus %s: %w: %w", addr, ErrNoSessionBus, err)
	}
	return &Notifier{conn: conn, app: app}, nil
}

func sessionAddress() string {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return a
	}
	p := filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "bus")
	if fi, err := os.Stat(p); err == nil && fi.Mode().Type() == os.ModeSocket {
		return "unix:path=" + p
	}
	return ""
}

// Close closes the connection.
func (n *Notifier) Close() error {
	if err := n.conn.Close(); err != nil {
		return fmt.Errorf("notify: close: %w", err)
	}
	return nil
}

// Notify shows m and returns the id the server gave it (for Replaces).
func (n *Notifier) Notify(ctx context.Context, m Notification) (uint32, error) {
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(m.Urgency))}
	if m.Category != "" {
		hints["category"] = dbus.MakeVariant(m.Category)
	}
	if m.Transient {
		hints["transient"] = dbus.MakeVariant(true)
	}
	timeout := int32(m.Timeout / time.Millisecond)
	switch {
	case m.Timeout < 0:
		timeout = 0 // never expires
	case m.Timeout == 0:
		timeout = -1 // the server's default
	}
	var id uint32
	err := n.conn.Object(service, path).CallWithContext(ctx, method, 0,
		n.app, m.Replaces, m.Icon, m.Summary, m.Body, []string{}, hints, timeout).Store(&id)
	if err != nil {
		var de dbus.Error
		if errors.As(err, &de) && de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
			return 0, fmt.Errorf("notify %q: %w", m.Summary, ErrNoServer)
		}
		return 0, fmt.Errorf("notify %q: %w", m.Summary, err)
	}
	return id, nil
}

// SafeToRemove is the notification for a card whose pass is done and
// durable: label is the card's filesystem label (or its mount point).
func SafeToRemove(label, profile string) Notification {
	return Notification{
		Summary:  label + " is in sync",
		Body:     "romsyncd finished " + profile + ": the card is safe to remove.",
		Icon:     "media-removable",
		Category: "transfer.complete",
		Urgency:  Normal,
	}
}

// Syncing is the notification for a card a pass is writing: it must not be
// removed until SafeToRemove replaces this one.
func Syncing(label, profile string) Notification {
	return Notification{
		Summary:   "Syncing " + label + ": do not remove",
		Body:      "romsyncd is copying " + profile + " to the card.",
		Icon:      "media-removable",
		Category:  "transfer",
		Urgency:   Normal,
		Transient: true,
		Timeout:   -1,
	}
}

// Ejected is the notification for a card romsyncd unmounted and powered
// off (profile `eject: true`).
func Ejected(label string) Notification {
	return Notification{
		Summary:  label + " can be removed",
		Body:     "romsyncd unmounted and powered off the card.",
		Icon:     "media-eject",
		Category: "device.removed",
		Urgency:  Normal,
	}
}

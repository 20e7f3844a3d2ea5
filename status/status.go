// Package status serves the running daemon's state and on-demand passes over a unix control socket, and is the client `romsyncd status` and `romsyncd sync` use to reach it.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SocketName is the control socket's file name inside the runtime directory.
const SocketName = "romsyncd.sock"

// systemSocket is the system service's socket (RuntimeDirectory=romsyncd).
const systemSocket = "/run/romsyncd/" + SocketName

// Profile states reported in ProfileStatus.State.
const (
	StateStarting      = "starting"
	StateSyncing       = "syncing"
	StateInSync        = "in sync"
	StatePausedOffline = "paused-offline"
	StateError         = "error"
)

// ProfileStatus is what the daemon reports about one profile.
type ProfileStatus struct {
	Name             string        `json:"name"`
	State            string        `json:"state"` // one of the State* constants
	Target           string        `json:"target"`
	Source           string        `json:"source"`
	DirtyFolders     int           `json:"dirty_folders"`
	QueuedBytes      int64         `json:"queued_bytes"`
	LastPass         time.Time     `json:"last_pass"`
	LastPassDuration time.Duration `json:"last_pass_duration_ns"`
	LastError        string        `json:"last_error,omitempty"`
	Offline          string        `json:"offline_reason,omitempty"`
	Watches          int           `json:"watches"`
	Polled           int           `json:"polled_folders"`
}

// Provider is what the daemon gives the server: its profiles' state and a way
// to run a full pass on request.
type Provider interface {
	Status() []ProfileStatus
	// Reconcile asks for a full pass of the named profiles (all when empty)
	// and blocks until it finished or ctx ends; the result is opaque JSON per
	// profile (the engine's report), returned as-is.
	Reconcile(ctx context.Context, profiles []string) ([]json.RawMessage, error)
}

// ErrNoDaemon is returned by the client functions when nothing listens on the
// socket (it does not exist, or nobody accepts on it): the caller then runs
// the pass itself.
var ErrNoDaemon = errors.New("no romsyncd daemon is running")

// DefaultSocket returns the control socket's path: in $RUNTIME_DIRECTORY (set
// by systemd's RuntimeDirectory=, for the system and the user unit alike),
// else in $XDG_RUNTIME_DIR/romsyncd, else /run/romsyncd/romsyncd.sock.
func DefaultSocket() string {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		// With several RuntimeDirectory= entries systemd joins them with ':'.
		first, _, _ := strings.Cut(d, ":")
		if first != "" {
			return filepath.Join(first, SocketName)
		}
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "romsyncd", SocketName)
	}
	return systemSocket
}

// ClientSockets returns the sockets a client should try, in order: the
// DefaultSocket, then the system service's socket when it differs. A user in
// a desktop session has $XDG_RUNTIME_DIR set, so DefaultSocket alone would
// never find a daemon run by the system unit.
func ClientSockets() []string {
	def := DefaultSocket()
	if def == systemSocket {
		return []string{def}
	}
	return []string{def, systemSocket}
}

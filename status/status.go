// Package status serves the running daemon's state and on-demand passes over a unix control socket, and is the client `romsyncd status` and `romsyncd sync` use to reach it.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
	// StateNotInSync: the last pass ran, but left files out that only the
	// user can settle (conflicts, files skipped, deletions held); the
	// problems are listed in Conflicts and Skipped.
	StateNotInSync = "not in sync"
	// A card's states: in sync and durable, or being written.
	StateSafeToRemove = "in sync, safe to remove"
	StateDoNotRemove  = "syncing, do not remove"
)

// Problem is a file a pass left out, and why.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// ProfileStatus is what the daemon reports about one profile.
type ProfileStatus struct {
	Name             string        `json:"name"`
	State            string        `json:"state"` // one of the State* constants
	Target           string        `json:"target"`
	Source           string        `json:"source"`
	DirtyFolders     int           `json:"dirty_folders"` // -1: a full pass is due
	QueuedBytes      int64         `json:"queued_bytes"`
	LastPass         time.Time     `json:"last_pass"`
	LastPassDuration time.Duration `json:"last_pass_duration_ns"`
	LastError        string        `json:"last_error,omitempty"`
	Offline          string        `json:"offline_reason,omitempty"`
	Watches          int           `json:"watches"`
	Polled           int           `json:"polled_folders"`
	// Conflicts and Skipped are the files the passes left out, as they
	// stand now (a conflict stays listed until it is settled).
	Conflicts []Problem `json:"conflicts,omitempty"`
	Skipped   []Problem `json:"skipped,omitempty"`
	// SavesBackedUp counts the save versions backed up off the card since
	// the daemon started (profiles with saves:).
	SavesBackedUp int `json:"saves_backed_up,omitempty"`
	// Card is the card a runner of a profile with cards keeps in sync (its
	// label, else its mount point's name).
	Card string `json:"card,omitempty"`
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

// DefaultSocket returns the control socket's path: in $RUNTIME_DIRECTORY
// (set by systemd's RuntimeDirectory=, for the system and the user unit
// alike); else, for root, /run/romsyncd/romsyncd.sock (the system service's);
// else $XDG_RUNTIME_DIR/romsyncd/romsyncd.sock; without $XDG_RUNTIME_DIR,
// /run/user/UID/romsyncd/romsyncd.sock when /run/user/UID exists, else
// ~/.cache/romsyncd/romsyncd.sock ($XDG_CACHE_HOME). A normal user's daemon
// and `romsyncd sync` so never meet a root-owned /run/romsyncd.
func DefaultSocket() string {
	return defaultSocket(os.Geteuid())
}

func defaultSocket(euid int) string {
	if d := runtimeDirectory(); d != "" {
		return filepath.Join(d, SocketName)
	}
	if euid == 0 {
		return systemSocket
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "romsyncd", SocketName)
	}
	// No session variables (su, cron): the runtime directory logind made,
	// else a folder of the user's own.
	if d := filepath.Join("/run/user", strconv.Itoa(euid)); isDir(d) {
		return filepath.Join(d, "romsyncd", SocketName)
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "romsyncd", SocketName)
	}
	return filepath.Join(os.TempDir(), "romsyncd-"+strconv.Itoa(euid), SocketName)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// runtimeDirectory is the first folder of $RUNTIME_DIRECTORY ("" when
// unset); with several RuntimeDirectory= entries systemd joins them with ':'.
func runtimeDirectory() string {
	first, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":")
	return first
}

// ClientSockets returns the sockets a client should try, in order: the
// DefaultSocket, then the system service's socket when it differs, so that
// a user in the romsyncd group reaches the system daemon too (it runs the
// pass only when it runs the same configuration file: see `romsyncd sync`).
// $RUNTIME_DIRECTORY names the runtime directory outright (systemd sets it
// for a unit; tests set it to confine romsyncd): then it is the only place.
func ClientSockets() []string {
	return clientSockets(os.Geteuid())
}

func clientSockets(euid int) []string {
	def := defaultSocket(euid)
	if def == systemSocket || runtimeDirectory() != "" {
		return []string{def}
	}
	return []string{def, systemSocket}
}

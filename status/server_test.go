package status_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/romsyncd/romsyncd/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeProvider reports fixed status and answers Reconcile with reconcile.
type fakeProvider struct {
	status    []status.ProfileStatus
	reconcile func(ctx context.Context, profiles []string) ([]json.RawMessage, error)

	mu    sync.Mutex
	calls [][]string
}

func (f *fakeProvider) Status() []status.ProfileStatus { return f.status }

func (f *fakeProvider) Reconcile(ctx context.Context, profiles []string) ([]json.RawMessage, error) {
	f.mu.Lock()
	f.calls = append(f.calls, profiles)
	f.mu.Unlock()
	return f.reconcile(ctx, profiles)
}

// shortDir returns a fresh directory whose path leaves room for a socket name
// within sun_path's 108 bytes (t.TempDir's paths embed the test name).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "rs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// serve starts a server on a new socket and stops it when the test ends; the
// returned stop cancels it and returns Serve's error.
func serve(t *testing.T, p status.Provider) (socket string, stop func() error) {
	t.Helper()
	socket = filepath.Join(shortDir(t), "run", "romsyncd.sock")
	srv, err := status.Listen(socket)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, p) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return socket, stop
}

func reports(raw ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(raw))
	for i, r := range raw {
		out[i] = json.RawMessage(r)
	}
	return out
}

func TestStatusAndReconcile(t *testing.T) {
	want := []status.ProfileStatus{{
		Name: "gba", State: status.StateInSync, Target: "/media/sd", Source: "/srv/roms/gba",
		DirtyFolders: 2, QueuedBytes: 5 << 20,
		LastPass:         time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		LastPassDuration: 1200 * time.Millisecond,
		Watches:          120, Polled: 3,
	}, {
		Name: "psx", State: status.StatePausedOffline, Target: "/media/card2", Source: "/srv/roms/psx",
		LastError: "target offline", Offline: "no .romsyncd marker",
	}}
	p := &fakeProvider{
		status: want,
		reconcile: func(ctx context.Context, profiles []string) ([]json.RawMessage, error) {
			return reports(`{"profile":"gba","installed":3}`, `{"profile":"psx","installed":0}`), nil
		},
	}
	socket, stop := serve(t, p)
	ctx := context.Background()

	got, err := status.GetStatus(ctx, socket)
	if err != nil {
		t.Fatalf("GetStatus: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetStatus = %+v\nwant %+v", got, want)
	}

	rep, err := status.RequestReconcile(ctx, socket, []string{"gba", "psx"})
	if err != nil {
		t.Fatalf("RequestReconcile: %v", err)
	}
	if want := reports(`{"profile":"gba","installed":3}`, `{"profile":"psx","installed":0}`); !reflect.DeepEqual(rep, want) {
		t.Errorf("RequestReconcile = %s, want %s", rep, want)
	}
	if _, err := status.RequestReconcile(ctx, socket, nil); err != nil {
		t.Fatalf("RequestReconcile(all): %v", err)
	}
	p.mu.Lock()
	calls := p.calls
	p.mu.Unlock()
	if len(calls) != 2 || !reflect.DeepEqual(calls[0], []string{"gba", "psx"}) || len(calls[1]) != 0 {
		t.Errorf("provider saw %q, want [[gba psx] []]", calls)
	}

	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after shutdown: %v", err)
	}
	if _, err := status.GetStatus(ctx, socket); !errors.Is(err, status.ErrNoDaemon) {
		t.Errorf("GetStatus after shutdown = %v, want ErrNoDaemon", err)
	}
}

func TestEmptyStatus(t *testing.T) {
	socket, _ := serve(t, &fakeProvider{})
	got, err := status.GetStatus(context.Background(), socket)
	if err != nil || len(got) != 0 {
		t.Fatalf("GetStatus = %v, %v; want no profiles", got, err)
	}
}

func TestReconcileError(t *testing.T) {
	socket, _ := serve(t, &fakeProvider{reconcile: func(ctx context.Context, profiles []string) ([]json.RawMessage, error) {
		return nil, errors.New(`unknown profile "snes"`)
	}})
	_, err := status.RequestReconcile(context.Background(), socket, []string{"snes"})
	if err == nil || !strings.Contains(err.Error(), `unknown profile "snes"`) || !strings.Contains(err.Error(), socket) {
		t.Fatalf("RequestReconcile = %v, want the daemon's error naming the socket", err)
	}
	if errors.Is(err, status.ErrNoDaemon) {
		t.Errorf("a daemon's error must not be ErrNoDaemon: %v", err)
	}
}

func TestBadRequest(t *testing.T) {
	socket, _ := serve(t, &fakeProvider{})
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPost, "/v1/reconcile", `{"profiles":`, http.StatusBadRequest},
		{http.MethodPost, "/v1/reconcile", `{"profile":["a"]}`, http.StatusBadRequest},
		{http.MethodGet, "/v1/reconcile", ``, http.StatusMethodNotAllowed},
		{http.MethodGet, "/v2/status", ``, http.StatusNotFound},
	} {
		req, err := http.NewRequest(tc.method, "http://romsyncd"+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %s: status %d, want %d", tc.method, tc.path, tc.body, resp.StatusCode, tc.want)
		}
	}
}

// blockingProvider's Reconcile blocks until its ctx ends and reports that.
func blockingProvider() (*fakeProvider, <-chan struct{}, <-chan error) {
	entered := make(chan struct{})
	ended := make(chan error, 1)
	return &fakeProvider{reconcile: func(ctx context.Context, profiles []string) ([]json.RawMessage, error) {
		close(entered)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}}, entered, ended
}

func TestReconcileBlocksUntilClientCancels(t *testing.T) {
	p, entered, ended := blockingProvider()
	socket, _ := serve(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := status.RequestReconcile(ctx, socket, nil)
		res <- err
	}()
	<-entered
	select {
	case err := <-res:
		t.Fatalf("RequestReconcile returned before cancel: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("RequestReconcile = %v, want context.Canceled", err)
	}
	// The client hung up: the server cancels the request's context.
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("provider ctx ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("provider's Reconcile still running after the client left")
	}
}

func TestShutdownCancelsReconcile(t *testing.T) {
	p, entered, ended := blockingProvider()
	socket, stop := serve(t, p)
	res := make(chan error, 1)
	go func() {
		_, err := status.RequestReconcile(context.Background(), socket, []string{"gba"})
		res <- err
	}()
	<-entered
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// Serve returned only after the handler did.
	select {
	case <-ended:
	default:
		t.Fatal("Serve returned while a Reconcile was still running")
	}
	err := <-res
	if err == nil || errors.Is(err, status.ErrNoDaemon) {
		t.Fatalf("RequestReconcile during shutdown = %v, want the daemon's error", err)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after shutdown: %v", err)
	}
}

func TestListenModes(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a", "b")
	socket := filepath.Join(dir, "romsyncd.sock")
	srv, err := status.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Lstat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	// MkdirAll applies the umask; it never widens 0750.
	if di.Mode().Perm()&^0o750 != 0 {
		t.Errorf("socket directory mode %v, want at most 0750", di.Mode().Perm())
	}
	if srv.Path() != socket {
		t.Errorf("Path() = %q, want %q", srv.Path(), socket)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Lstat(socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// staleSocket leaves a socket file at path that nobody listens on, as a
// killed daemon does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("stale socket not left behind: %v", err)
	}
}

func TestStaleSocketRemoved(t *testing.T) {
	socket := filepath.Join(shortDir(t), "romsyncd.sock")
	staleSocket(t, socket)
	if _, err := status.GetStatus(context.Background(), socket); !errors.Is(err, status.ErrNoDaemon) {
		t.Fatalf("GetStatus on a stale socket = %v, want ErrNoDaemon", err)
	}
	srv, err := status.Listen(socket)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "romsyncd.sock")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := status.Listen(path)
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file = %v, want a 'not a socket' error", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "keep me" {
		t.Errorf("regular file was touched: %q, %v", data, err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	socket, _ := serve(t, &fakeProvider{})
	_, err := status.Listen(socket)
	if !errors.Is(err, status.ErrRunning) {
		t.Fatalf("second Listen = %v, want ErrRunning", err)
	}
	if want := "another romsyncd is running (socket " + socket + ")"; err.Error() != want {
		t.Errorf("second Listen error %q, want %q", err, want)
	}
	// The first server is untouched and still answers.
	if _, err := status.GetStatus(context.Background(), socket); err != nil {
		t.Errorf("first server after refused second: %v", err)
	}
}

func TestLiveForeignSocketKept(t *testing.T) {
	// A listener that does not hold our lock file (another mount namespace,
	// an older romsyncd): it answers, so it must be left alone.
	socket := filepath.Join(shortDir(t), "romsyncd.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := status.Listen(socket); !errors.Is(err, status.ErrRunning) {
		t.Fatalf("Listen over a live socket = %v, want ErrRunning", err)
	}
	if fi, err := os.Lstat(socket); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("live socket was removed: %v", err)
	}
}

func TestNoDaemon(t *testing.T) {
	socket := filepath.Join(shortDir(t), "missing", "romsyncd.sock")
	if _, err := status.GetStatus(context.Background(), socket); !errors.Is(err, status.ErrNoDaemon) {
		t.Errorf("GetStatus = %v, want ErrNoDaemon", err)
	}
	_, err := status.RequestReconcile(context.Background(), socket, []string{"gba"})
	if !errors.Is(err, status.ErrNoDaemon) || !strings.Contains(err.Error(), socket) {
		t.Errorf("RequestReconcile = %v, want ErrNoDaemon naming the socket", err)
	}
}

func TestListenPathTooLong(t *testing.T) {
	socket := filepath.Join(shortDir(t), strings.Repeat("x", 110))
	_, err := status.Listen(socket)
	if err == nil || !strings.Contains(err.Error(), "at most 107") {
		t.Fatalf("Listen(long path) = %v, want a path length error", err)
	}
}

// TestDefaultSocket: root's default socket is the system service's, a
// normal user's is in their runtime directory (issue 10, point 7: a
// root-owned /run/romsyncd made `romsyncd sync` fail for a normal user);
// $RUNTIME_DIRECTORY, when set, is the only place looked at.
func TestDefaultSocket(t *testing.T) {
	const sys = "/run/romsyncd/romsyncd.sock"
	for _, tc := range []struct {
		name, runtime, xdg string
		euid               int
		want               string
		clients            []string
	}{
		{"systemd", "/run/romsyncd", "/run/user/1000", 0, sys, []string{sys}},
		{"systemd user unit", "/run/user/1000/romsyncd:/run/user/1000/other", "/run/user/1000", 1000,
			"/run/user/1000/romsyncd/romsyncd.sock", []string{"/run/user/1000/romsyncd/romsyncd.sock"}},
		{"desktop session", "", "/run/user/1000", 1000, "/run/user/1000/romsyncd/romsyncd.sock",
			[]string{"/run/user/1000/romsyncd/romsyncd.sock", sys}},
		{"user without a session or /run/user/UID", "", "", 4242, "/home/x/.cache/romsyncd/romsyncd.sock",
			[]string{"/home/x/.cache/romsyncd/romsyncd.sock", sys}},
		{"root in a desktop session", "", "/run/user/0", 0, sys, []string{sys}},
		{"root bare", "", "", 0, sys, []string{sys}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RUNTIME_DIRECTORY", tc.runtime)
			t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
			t.Setenv("XDG_CACHE_HOME", "/home/x/.cache")
			if got := status.DefaultSocketFor(tc.euid); got != tc.want {
				t.Errorf("DefaultSocket() = %q, want %q", got, tc.want)
			}
			if got := status.ClientSocketsFor(tc.euid); !reflect.DeepEqual(got, tc.clients) {
				t.Errorf("ClientSockets() = %q, want %q", got, tc.clients)
			}
		})
	}
}

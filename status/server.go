package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrRunning is returned by Listen when another romsyncd already serves the
// socket.
var ErrRunning = errors.New("another romsyncd is running")

// maxSocketPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes including the terminating NUL).
const maxSocketPath = 107

// maxRequestBytes bounds a request body; requests are a list of profile names.
const maxRequestBytes = 1 << 20

// probeTimeout bounds the connect that tells a live socket from a stale one.
const probeTimeout = 2 * time.Second

// Server is the control socket, listening but not yet serving.
type Server struct {
	path string
	ln   *net.UnixListener
	lock *os.File // flock held for the server's lifetime
	// config is the file the daemon runs, reported with its status.
	config ConfigFile

	closeOnce sync.Once
	closeErr  error
}

// Listen creates the control socket at path: it creates the parent directory
// (mode 0750) when missing, removes a stale socket file that nobody answers
// on, and fails with ErrRunning when a daemon answers. The socket gets mode
// 0660, so members of the daemon's group may use it.
//
// A lock file next to the socket (path + ".lock") serializes daemons starting
// at the same instant, so one never removes the socket another has just
// created; it is left in place on shutdown (unlinking a lock file reopens
// that race) and lives in the runtime directory, which systemd removes.
func Listen(path string) (*Server, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("listen %s: path is %d bytes, a unix socket path holds at most %d; choose a shorter socket path", path, len(path), maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("listen %s: create socket directory: %w", path, err)
	}
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	ln, err := listenUnix(path)
	if errors.Is(err, syscall.EADDRINUSE) {
		if err = removeStale(path); err == nil {
			ln, err = listenUnix(path)
		}
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close() // unlinks the socket
		lock.Close()
		return nil, fmt.Errorf("listen %s: set socket mode: %w", path, err)
	}
	return &Server{path: path, ln: ln, lock: lock}, nil
}

// lockFile takes an exclusive, non-blocking flock on socket + ".lock".
func lockFile(socket string) (*os.File, error) {
	name := socket + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("listen %s: open lock file: %w", socket, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		return nil, fmt.Errorf("%w (socket %s)", ErrRunning, socket)
	default:
		f.Close()
		return nil, fmt.Errorf("listen %s: lock %s: %w", socket, name, err)
	}
}

func listenUnix(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return ln, nil
}

// removeStale removes the socket file at path when nothing accepts on it. It
// leaves alone anything that is not a socket, and a socket it cannot probe.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone meanwhile: listen again
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("listen %s: file exists and is not a socket; remove it or choose another socket path", path)
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w (socket %s)", ErrRunning, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listen %s: probe existing socket: %w", path, err)
	}
	slog.Info("removing stale control socket", "socket", path)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listen %s: remove stale socket: %w", path, err)
	}
	return nil
}

// SetConfig records the configuration file the daemon runs; the status
// answer carries it, so that `romsyncd sync --config X` hands its pass only
// to a daemon running X. Call it before Serve.
func (s *Server) SetConfig(path string) { s.config = ConfigFileOf(path) }

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Close releases a Server whose Serve is not running (Serve closes it
// itself): it closes the listener, removes the socket and drops the lock.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close %s: %w", s.path, err))
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove socket %s: %w", s.path, err))
		}
		if err := s.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("unlock %s: %w", s.path, err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Serve answers requests with p until ctx is done, then cancels the requests
// in flight (a Reconcile sees its ctx end), waits for every handler to
// return, removes the socket and returns. Call it once.
func (s *Server) Serve(ctx context.Context, p Provider) error {
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var handlers sync.WaitGroup
	h := &handler{p: p, config: s.config}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathStatus, h.status)
	mux.HandleFunc("POST "+pathReconcile, h.reconcile)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handlers.Add(1)
			defer handlers.Done()
			mux.ServeHTTP(w, r)
		}),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	cancel() // end the handlers' contexts so Shutdown does not wait on a pass
	shutdownErr := srv.Shutdown(context.Background())
	if serveErr == nil {
		serveErr = <-served
	}
	handlers.Wait()

	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve %s: %w", s.path, serveErr))
	}
	if shutdownErr != nil {
		errs = append(errs, fmt.Errorf("shut down %s: %w", s.path, shutdownErr))
	}
	if err := s.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// The protocol: JSON over HTTP/1.1 on the unix socket.
const (
	pathStatus    = "/v1/status"
	pathReconcile = "/v1/reconcile"
)

type statusResponse struct {
	Profiles []ProfileStatus `json:"profiles"`
	Config   *ConfigFile     `json:"config,omitempty"`
}

type reconcileRequest struct {
	Profiles []string `json:"profiles"`
}

type reconcileResponse struct {
	Reports []json.RawMessage `json:"reports"`
}

type errorResponse struct {
	Error string `json:"error"`
}

type handler struct {
	p      Provider
	config ConfigFile
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st := h.p.Status()
	if st == nil {
		st = []ProfileStatus{}
	}
	resp := statusResponse{Profiles: st}
	if h.config.Path != "" {
		resp.Config = &h.config
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) reconcile(w http.ResponseWriter, r *http.Request) {
	var req reconcileRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "decode reconcile request: " + err.Error()})
		return
	}
	reports, err := h.p.Reconcile(r.Context(), req.Profiles)
	if err != nil {
		code := http.StatusInternalServerError
		if r.Context().Err() != nil {
			// The daemon is stopping (or the client left; then nobody reads this).
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, errorResponse{Error: err.Error()})
		return
	}
	if reports == nil {
		reports = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, reconcileResponse{Reports: reports})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(errorResponse{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if _, err := w.Write(append(body, '\n')); err != nil {
		slog.Debug("control socket client went away", "err", err)
	}
}

package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
)

// GetStatus asks the daemon listening on socket for its profiles' state.
// It returns an error wrapping ErrNoDaemon when nothing listens there.
func GetStatus(ctx context.Context, socket string) ([]ProfileStatus, error) {
	var resp statusResponse
	if err := call(ctx, socket, http.MethodGet, pathStatus, nil, &resp); err != nil {
		return nil, fmt.Errorf("get status from %s: %w", socket, err)
	}
	return resp.Profiles, nil
}

// Daemon is what a running daemon says about itself.
type Daemon struct {
	// Config is the file it runs; zero for a daemon that does not say.
	Config   ConfigFile
	Profiles []ProfileStatus
}

// Runs reports whether the daemon runs profile name.
func (d Daemon) Runs(name string) bool {
	for _, p := range d.Profiles {
		if p.Name == name {
			return true
		}
	}
	return false
}

// GetDaemon asks the daemon listening on socket which configuration it runs
// and its profiles' state. It returns an error wrapping ErrNoDaemon when
// nothing listens there.
func GetDaemon(ctx context.Context, socket string) (Daemon, error) {
	var resp statusResponse
	if err := call(ctx, socket, http.MethodGet, pathStatus, nil, &resp); err != nil {
		return Daemon{}, fmt.Errorf("get status from %s: %w", socket, err)
	}
	d := Daemon{Profiles: resp.Profiles}
	if resp.Config != nil {
		d.Config = *resp.Config
	}
	return d, nil
}

// RequestReconcile asks the daemon listening on socket for a full pass of the
// named profiles (all when empty) and waits for it; it returns the engine's
// report per profile. It returns an error wrapping ErrNoDaemon when nothing
// listens there: the caller then runs the pass itself.
func RequestReconcile(ctx context.Context, socket string, profiles []string) ([]json.RawMessage, error) {
	body, err := json.Marshal(reconcileRequest{Profiles: profiles})
	if err != nil {
		return nil, fmt.Errorf("request reconcile from %s: %w", socket, err)
	}
	var resp reconcileResponse
	if err := call(ctx, socket, http.MethodPost, pathReconcile, body, &resp); err != nil {
		return nil, fmt.Errorf("request reconcile from %s: %w", socket, err)
	}
	return resp.Reports, nil
}

// call makes one request on a fresh connection (no keep-alive, so no
// connection outlives the call) and decodes the JSON answer into out.
func call(ctx context.Context, socket, method, path string, body []byte, out any) error {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()

	req, err := http.NewRequestWithContext(ctx, method, "http://romsyncd"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return dialError(err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxRequestBytes))
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(data))
		}
		return fmt.Errorf("daemon: %s", e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// dialError classifies a failed request: nothing listening is ErrNoDaemon.
func dialError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %w", ErrNoDaemon, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w (is your user in the romsyncd group?)", err)
	}
	return err
}

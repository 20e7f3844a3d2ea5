// Package metrics records what the daemon does as Prometheus metrics and serves them on an opt-in, loopback-only HTTP endpoint.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "romsyncd"

// passBuckets spans a pass over one dirty folder (well under a second) to a
// first full pass over a multi-terabyte library (hours).
var passBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}

// Metrics holds the daemon's metrics in its own registry (never the global
// one), with the Go runtime and process collectors. Its methods are safe for
// concurrent use; every series carries a "profile" label.
type Metrics struct {
	reg *prometheus.Registry

	installedBytes *prometheus.CounterVec
	filesInstalled *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	filesDeleted   *prometheus.CounterVec
	passes         *prometheus.CounterVec // profile, result
	passDuration   *prometheus.HistogramVec
	lastSuccess    *prometheus.GaugeVec
	conflicts      *prometheus.GaugeVec
	dirtyFolders   *prometheus.GaugeVec
	watches        *prometheus.GaugeVec
	polled         *prometheus.GaugeVec
	targetOnline   *prometheus.GaugeVec

	// The counters of a profile are created at zero on its first use, so a
	// first failure shows as an increase rather than as a new series.
	mu    sync.Mutex
	known map[string]bool
}

// New returns Metrics with every metric registered.
func New() *Metrics {
	profile := []string{"profile"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		installedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "installed_bytes_total",
			Help: "Bytes of files installed (copied, verified and renamed into place) on the target.",
		}, profile),
		filesInstalled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "files_installed_total",
			Help: "Files installed on the target.",
		}, profile),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "verify_failures_total",
			Help: "Installs whose re-read from the target did not match the source hash.",
		}, profile),
		filesDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "files_deleted_total",
			Help: "Files romsyncd removed from the target because they left the source.",
		}, profile),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "passes_total",
			Help: "Reconcile passes finished, by result (ok or error).",
		}, []string{"profile", "result"}),
		passDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "pass_duration_seconds",
			Help:    "Duration of reconcile passes.",
			Buckets: passBuckets,
		}, profile),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_successful_pass_timestamp_seconds",
			Help: "Unix time at which the last successful pass finished.",
		}, profile),
		conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "conflicts",
			Help: "Conflicts (files romsyncd refused to overwrite or map) found by the last pass.",
		}, profile),
		dirtyFolders: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "dirty_folders",
			Help: "Source folders waiting for a pass.",
		}, profile),
		watches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "watches",
			Help: "Source folders watched with inotify.",
		}, profile),
		polled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "polled_folders",
			Help: "Source folders polled instead of watched (inotify watch limit reached, or a network or FUSE filesystem).",
		}, profile),
		targetOnline: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "target_online",
			Help: "1 when the profile's target is mounted and carries its marker, else 0.",
		}, profile),
		known: make(map[string]bool),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.installedBytes, m.filesInstalled, m.verifyFailures, m.filesDeleted,
		m.passes, m.passDuration, m.lastSuccess,
		m.conflicts, m.dirtyFolders, m.watches, m.polled, m.targetOnline,
	)
	return m
}

// Registry returns the registry the metrics live in, for tests and for
// serving them from another HTTP server.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the /metrics handler (promhttp) for the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		Registry: m.reg,
	}))
}

// touch creates profile's counters at zero the first time it is seen.
func (m *Metrics) touch(profile string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known[profile] {
		return
	}
	m.known[profile] = true
	m.installedBytes.WithLabelValues(profile)
	m.filesInstalled.WithLabelValues(profile)
	m.verifyFailures.WithLabelValues(profile)
	m.filesDeleted.WithLabelValues(profile)
	m.passes.WithLabelValues(profile, "ok")
	m.passes.WithLabelValues(profile, "error")
}

// FileInstalled counts one file of bytes installed on profile's target.
func (m *Metrics) FileInstalled(profile string, bytes int64) {
	m.touch(profile)
	m.filesInstalled.WithLabelValues(profile).Inc()
	if bytes > 0 {
		m.installedBytes.WithLabelValues(profile).Add(float64(bytes))
	}
}

// VerifyFailure counts one install whose verification failed.
func (m *Metrics) VerifyFailure(profile string) {
	m.touch(profile)
	m.verifyFailures.WithLabelValues(profile).Inc()
}

// Conflicts sets the number of conflicts the last pass found.
func (m *Metrics) Conflicts(profile string, n int) {
	m.touch(profile)
	m.conflicts.WithLabelValues(profile).Set(float64(n))
}

// PassDone records a finished pass: its duration and its result; a
// successful pass also sets the last-success timestamp.
func (m *Metrics) PassDone(profile string, d time.Duration, ok bool) {
	m.touch(profile)
	m.passDuration.WithLabelValues(profile).Observe(d.Seconds())
	result := "error"
	if ok {
		result = "ok"
		m.lastSuccess.WithLabelValues(profile).SetToCurrentTime()
	}
	m.passes.WithLabelValues(profile, result).Inc()
}

// DirtyFolders sets the number of source folders waiting for a pass.
func (m *Metrics) DirtyFolders(profile string, n int) {
	m.touch(profile)
	m.dirtyFolders.WithLabelValues(profile).Set(float64(n))
}

// Watches sets how many source folders are watched and how many polled.
func (m *Metrics) Watches(profile string, watched, polled int) {
	m.touch(profile)
	m.watches.WithLabelValues(profile).Set(float64(watched))
	m.polled.WithLabelValues(profile).Set(float64(polled))
}

// TargetOnline records whether profile's target is present.
func (m *Metrics) TargetOnline(profile string, online bool) {
	m.touch(profile)
	v := 0.0
	if online {
		v = 1
	}
	m.targetOnline.WithLabelValues(profile).Set(v)
}

// Deleted counts n files removed from profile's target.
func (m *Metrics) Deleted(profile string, n int) {
	m.touch(profile)
	if n > 0 {
		m.filesDeleted.WithLabelValues(profile).Add(float64(n))
	}
}

// Forget drops every series of profile, after a config reload removed it.
func (m *Metrics) Forget(profile string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.known, profile)
	match := prometheus.Labels{"profile": profile}
	m.installedBytes.DeletePartialMatch(match)
	m.filesInstalled.DeletePartialMatch(match)
	m.verifyFailures.DeletePartialMatch(match)
	m.filesDeleted.DeletePartialMatch(match)
	m.passes.DeletePartialMatch(match)
	m.passDuration.DeletePartialMatch(match)
	m.lastSuccess.DeletePartialMatch(match)
	m.conflicts.DeletePartialMatch(match)
	m.dirtyFolders.DeletePartialMatch(match)
	m.watches.DeletePartialMatch(match)
	m.polled.DeletePartialMatch(match)
	m.targetOnline.DeletePartialMatch(match)
}

// Serve serves /metrics on addr until ctx is done, then shuts the server down
// and returns. The metrics are unauthenticated, so it refuses, with an error
// naming addr, an address that is not loopback (":9108", "0.0.0.0:9108", a
// LAN address, a host name other than localhost) unless allowNonLoopback.
func (m *Metrics) Serve(ctx context.Context, addr string, allowNonLoopback bool) error {
	ln, err := listen(addr, allowNonLoopback)
	if err != nil {
		return err
	}
	return m.serve(ctx, ln)
}

// listen checks addr and listens on it.
func listen(addr string, allowNonLoopback bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen address %q: %w", addr, err)
	}
	if !allowNonLoopback && !isLoopback(host) {
		return nil, fmt.Errorf("metrics listen address %q is not a loopback address: metrics are served without authentication; use 127.0.0.1 or [::1], or allow non-loopback addresses explicitly", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	// "localhost" is resolved by the listener: check what it got.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !allowNonLoopback && (!ok || !tcp.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("metrics listen address %q resolved to %s, which is not loopback", addr, ln.Addr())
	}
	return ln, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve serves the metrics on ln until ctx is done.
func (m *Metrics) serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	// A scrape takes milliseconds; do not let a stuck client hold up the stop.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		shutdownErr = errors.Join(shutdownErr, srv.Close())
	}
	if serveErr == nil {
		serveErr = <-served
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("metrics serve %s: %w", ln.Addr(), serveErr)
	}
	if shutdownErr != nil {
		return fmt.Errorf("metrics shut down %s: %w", ln.Addr(), shutdownErr)
	}
	return nil
}

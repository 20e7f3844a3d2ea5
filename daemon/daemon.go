// Package daemon runs `romsyncd run`: one runner per profile turns the
// watcher's dirty folders into passes of the sync engine, keeps each target
// mirrored across card removals and library outages, reloads its
// configuration on SIGHUP, and reports through the control socket, systemd
// notifications and optional Prometheus metrics.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	stdsync "sync"
	"time"

	sdaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/romsyncd/romsyncd/config"
	"github.com/romsyncd/romsyncd/metrics"
	"github.com/romsyncd/romsyncd/profiles"
	"github.com/romsyncd/romsyncd/status"
	romsync "github.com/romsyncd/romsyncd/sync"
)

// Options configure a daemon.
type Options struct {
	Logger *slog.Logger
	// Reload receives SIGHUP: reload the configuration.
	Reload <-chan os.Signal
	// RetryInterval is how often an offline target or source is checked
	// again (default 5 s).
	RetryInterval time.Duration
}

// Daemon is a running `romsyncd run`.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics.Metrics

	mu      stdsync.Mutex
	cfg     *config.Config
	runners map[string]*runner // by name: a profile's, or a card's (profile@id)
	cards   *cardWatch         // nil until the mount watcher runs
	wg      stdsync.WaitGroup  // runners
}

// startServices starts the control socket, the metrics server and the
// watchdog, owned by svc.
func (d *Daemon) startServices(ctx context.Context, svc *stdsync.WaitGroup, srv *status.Server, sock string) {
	cfg := d.cfg
	svc.Go(func() {
		if err := srv.Serve(ctx, d); err != nil {
			d.log.Error("control socket stopped", "socket", sock, "err", err)
		}
	})
	if d.metrics != nil {
		svc.Go(func() {
			if err := d.metrics.Serve(ctx, cfg.MetricsListen, cfg.MetricsAllowRemote); err != nil {
				d.log.Error("metrics server stopped", "listen", cfg.MetricsListen, "err", err)
			}
		})
	}
	if wd, err := sdaemon.SdWatchdogEnabled(false); err == nil && wd > 0 {
		svc.Go(func() { d.watchdog(ctx, wd) })
	}
}

// rescanCards finds the mounted cards again after a reload: their runners
// were stopped with their profiles, and a profile may take cards it did
// not.
func (d *Daemon) rescanCards(ctx context.Context) {
	d.mu.Lock()
	cw := d.cards
	d.mu.Unlock()
	if cw != nil {
		cw.rescan(ctx)
	}
}

// currentConfig is the configuration in force.
func (d *Daemon) currentConfig() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Run runs every profile of cfg until ctx is done; a signal on
// opts.Reload reads cfg.File again. It returns nil after a clean stop, or
// an error if it cannot start. It reads top to bottom as the daemon's
// life: start, serve, stop in the reverse order; kept whole for that.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 5 * time.Second
	}
	d := &Daemon{opts: opts, log: opts.Logger, cfg: cfg, runners: map[string]*runner{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	sock := cfg.Socket
	if sock == "" {
		sock = status.DefaultSocket()
	}
	srv, err := status.Listen(sock)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	srv.SetConfig(cfg.File)
	if cfg.MetricsListen != "" {
		d.metrics = metrics.New()
	}

	var svc stdsync.WaitGroup // the daemon's own goroutines
	sctx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	d.startServices(sctx, &svc, srv, sock)

	d.mu.Lock()
	for i := range cfg.Profiles {
		d.startLocked(ctx, cfg.Profiles[i])
	}
	d.mu.Unlock()
	// Runners of cards start and stop with their mounts; the watcher stops
	// first at shutdown, so that no runner starts after the others stop.
	cctx, stopCards := context.WithCancel(ctx)
	defer stopCards()
	cardsDone := make(chan struct{})
	go func() {
		defer close(cardsDone)
		if err := d.watchCards(cctx); err != nil && cctx.Err() == nil {
			d.log.Error("card discovery stopped", "err", err)
		}
	}()
	d.log.Info("romsyncd running", "config", cfg.File, "profiles", len(cfg.Profiles), "socket", sock)
	d.waitReady(ctx)
	notify("READY=1\nSTATUS=" + d.summary())

	statusTick := time.NewTicker(10 * time.Second)
	defer statusTick.Stop()
	lastStatus := ""
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-opts.Reload:
			notify("RELOADING=1\nMONOTONIC_USEC=" + sdaemon.SdNotifyMonotonicUsec())
			d.reload(ctx)
			d.rescanCards(cctx)
			notify("READY=1\nSTATUS=" + d.summary())
		case <-statusTick.C:
			if s := d.summary(); s != lastStatus {
				notify("STATUS=" + s)
				lastStatus = s
			}
		}
	}
	notify("STOPPING=1")
	d.log.Info("stopping")
	stopCards()
	<-cardsDone
	d.mu.Lock()
	for _, r := range d.runners {
		r.stop()
	}
	d.mu.Unlock()
	d.wg.Wait()
	stopServices()
	svc.Wait()
	d.log.Info("stopped")
	return nil
}

func notify(state string) {
	_, _ = sdaemon.SdNotify(false, state)
}

func (d *Daemon) watchdog(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			notify("WATCHDOG=1")
		}
	}
}

// startLocked starts a runner for profile p with a fixed target (the
// runners of a profile with cards start with its cards); d.mu is held.
func (d *Daemon) startLocked(ctx context.Context, p config.Profile) {
	if p.Target == "" && p.Cards != nil {
		return
	}
	d.startRunnerLocked(ctx, p.Name, p, nil)
}

// startRunnerLocked starts a runner named name for profile p, of a card
// when card is set; d.mu is held.
func (d *Daemon) startRunnerLocked(ctx context.Context, name string, p config.Profile, card *cardRun) {
	r := newRunner(d.cfg, p, d.log, d.metrics, d.opts.RetryInterval)
	r.name, r.card = name, card
	r.log = d.log.With("profile", name)
	d.runners[name] = r
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	d.wg.Go(func() {
		defer close(r.done)
		r.run(rctx)
	})
}

// stopRunner stops the runner named name and waits for it; it returns the
// runner, nil when none runs.
func (d *Daemon) stopRunner(name string) *runner {
	d.mu.Lock()
	r := d.runners[name]
	delete(d.runners, name)
	d.mu.Unlock()
	if r == nil {
		return nil
	}
	r.stop()
	<-r.done
	if d.metrics != nil {
		d.metrics.Forget(name)
	}
	return r
}

// waitReady waits until every runner has set its watches (or given up for
// now because its source is offline), so READY=1 means "changes are seen".
func (d *Daemon) waitReady(ctx context.Context) {
	d.mu.Lock()
	rs := make([]*runner, 0, len(d.runners))
	for _, r := range d.runners {
		rs = append(rs, r)
	}
	d.mu.Unlock()
	for _, r := range rs {
		select {
		case <-r.ready:
		case <-ctx.Done():
			return
		}
	}
}

// reload applies a new configuration: profiles added, removed or changed
// take effect; an invalid file is logged and the running config kept.
func (d *Daemon) reload(ctx context.Context) {
	cfg, err := config.Load(d.cfg.File)
	if err == nil {
		err = profiles.Check(cfg)
	}
	if err != nil {
		d.log.Error("reload failed; the running configuration stays", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cfg.Socket != d.cfg.Socket || cfg.MetricsListen != d.cfg.MetricsListen {
		d.log.Warn("socket and metrics_listen changes take effect after a restart")
	}
	want := map[string]config.Profile{}
	for _, p := range cfg.Profiles {
		want[p.Name] = p
	}
	var stopped []*runner
	for name, r := range d.runners {
		if p, ok := want[name]; ok && r.card == nil && reflect.DeepEqual(p, r.profile) && cfg.StateDir == d.cfg.StateDir {
			continue
		}
		r.stop()
		stopped = append(stopped, r)
		delete(d.runners, name)
	}
	for _, r := range stopped {
		<-r.done
		if d.metrics != nil {
			d.metrics.Forget(r.name)
		}
	}
	d.cfg = cfg
	added := 0
	for _, p := range cfg.Profiles {
		if _, ok := d.runners[p.Name]; !ok {
			d.startLocked(ctx, p)
			added++
		}
	}
	d.log.Info("configuration reloaded", "profiles", len(cfg.Profiles), "restarted_or_added", added, "removed_or_changed", len(stopped))
}

// summary is the one-line STATUS= for systemd.
func (d *Daemon) summary() string {
	st := d.Status()
	counts := map[string]int{}
	for _, s := range st {
		counts[s.State]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return fmt.Sprintf("%d profile(s): %s", len(st), strings.Join(parts, ", "))
}

// Status implements status.Provider.
func (d *Daemon) Status() []status.ProfileStatus {
	d.mu.Lock()
	rs := make([]*runner, 0, len(d.runners))
	for _, r := range d.runners {
		rs = append(rs, r)
	}
	d.mu.Unlock()
	out := make([]status.ProfileStatus, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Reconcile implements status.Provider: a full pass of the named profiles
// (all when empty), waited for.
func (d *Daemon) Reconcile(ctx context.Context, names []string) ([]json.RawMessage, error) {
	d.mu.Lock()
	var rs []*runner
	if len(names) == 0 {
		for _, r := range d.runners {
			rs = append(rs, r)
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].name < rs[j].name })
	} else {
		for _, n := range names {
			r, ok := d.runners[n]
			if !ok {
				d.mu.Unlock()
				return nil, fmt.Errorf("the daemon runs no profile %q", n)
			}
			rs = append(rs, r)
		}
	}
	d.mu.Unlock()
	waits := make([]chan *romsync.Report, len(rs))
	for i, r := range rs {
		waits[i] = r.requestFull()
	}
	out := make([]json.RawMessage, len(rs))
	for i, w := range waits {
		var rep *romsync.Report
		select {
		case rep = <-w:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if rep == nil {
			return nil, errors.New("the daemon stopped before the pass finished")
		}
		data, err := json.Marshal(rep)
		if err != nil {
			return nil, fmt.Errorf("encode report of %s: %w", rep.Profile, err)
		}
		out[i] = data
	}
	return out, nil
}

package measure

import (
	"context"
	"fmt"
	"time"
)

// InSyncConfig says how to wait for a freshly started daemon to report its
// profile in sync.
type InSyncConfig struct {
	PID     int
	Proc    string        // /proc
	Start   time.Time     // when the daemon was started
	Poll    time.Duration // how often to ask
	Timeout time.Duration // give up this long after Start
	// Check asks the daemon once: done when the profile is in sync, an
	// error when it can no longer get there (not yet listening is neither).
	Check func(ctx context.Context) (done bool, err error)
}

// InSyncResult is how long a daemon took to be in sync, and its memory then.
type InSyncResult struct {
	Seconds float64 `json:"insync_s"`
	Polls   int     `json:"polls"`
	RSSKiB  int64   `json:"rss_kib"`
	HWMKiB  int64   `json:"hwm_kib"` // VmHWM: the peak RSS of its start and first pass
}

// WaitInSync polls cfg.Check until it reports the profile in sync, and
// returns the time since cfg.Start and the daemon's VmRSS and VmHWM at that
// moment. It fails when the daemon exits or cfg.Timeout passes first.
func WaitInSync(ctx context.Context, cfg InSyncConfig) (InSyncResult, error) {
	var res InSyncResult
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	deadline := cfg.Start.Add(cfg.Timeout)
	for {
		if _, _, err := memKiB(cfg.Proc, cfg.PID); err != nil {
			return res, fmt.Errorf("daemon %d is gone before it was in sync: %w", cfg.PID, err)
		}
		res.Polls++
		done, err := cfg.Check(ctx)
		if err != nil {
			return res, err
		}
		if done {
			res.Seconds = time.Since(cfg.Start).Seconds()
			if res.RSSKiB, res.HWMKiB, err = memKiB(cfg.Proc, cfg.PID); err != nil {
				return res, fmt.Errorf("daemon %d: %w", cfg.PID, err)
			}
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("daemon %d not in sync %s after its start", cfg.PID, cfg.Timeout)
		}
		if err := sleep(ctx, cfg.Poll); err != nil {
			return res, err
		}
	}
}

package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start serves m on a fresh loopback port until the test ends.
func start(t *testing.T, m *Metrics) string {
	t.Helper()
	ln, err := listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + "/metrics"
}

// scrape fetches url and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// find returns the metric of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f, ok := fams[name]
	if !ok {
		return nil, false
	}
metrics:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue metrics
			}
		}
		return m, true
	}
	return nil, false
}

// value returns the value of a counter or gauge series.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := find(fams, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

func prof(p string) map[string]string { return map[string]string{"profile": p} }

func TestScrape(t *testing.T) {
	m := New()
	url := start(t, m)

	m.FileInstalled("gba", 100)
	m.FileInstalled("gba", 200)
	m.FileInstalled("gba", -1) // a bogus size counts the file, never panics
	m.VerifyFailure("gba")
	m.Conflicts("gba", 3)
	m.Conflicts("gba", 1)
	m.PassDone("gba", 1500*time.Millisecond, true)
	m.PassDone("gba", 30*time.Second, false)
	m.DirtyFolders("gba", 7)
	m.Watches("gba", 120, 4)
	m.TargetOnline("gba", true)
	m.Deleted("gba", 5)
	m.Deleted("gba", -2)
	m.TargetOnline("psx", false)

	fams := scrape(t, url)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"romsyncd_installed_bytes_total", prof("gba"), 300},
		{"romsyncd_files_installed_total", prof("gba"), 3},
		{"romsyncd_verify_failures_total", prof("gba"), 1},
		{"romsyncd_conflicts", prof("gba"), 1},
		{"romsyncd_passes_total", map[string]string{"profile": "gba", "result": "ok"}, 1},
		{"romsyncd_passes_total", map[string]string{"profile": "gba", "result": "error"}, 1},
		{"romsyncd_dirty_folders", prof("gba"), 7},
		{"romsyncd_watches", prof("gba"), 120},
		{"romsyncd_polled_folders", prof("gba"), 4},
		{"romsyncd_target_online", prof("gba"), 1},
		{"romsyncd_files_deleted_total", prof("gba"), 5},
		{"romsyncd_target_online", prof("psx"), 0},
		// A profile's counters exist at zero from its first use.
		{"romsyncd_verify_failures_total", prof("psx"), 0},
		{"romsyncd_passes_total", map[string]string{"profile": "psx", "result": "error"}, 0},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}

	h, ok := find(fams, "romsyncd_pass_duration_seconds", prof("gba"))
	if !ok || h.Histogram == nil {
		t.Fatal("no romsyncd_pass_duration_seconds histogram for gba")
	}
	if h.Histogram.GetSampleCount() != 2 || h.Histogram.GetSampleSum() != 31.5 {
		t.Errorf("pass duration count %d sum %v, want 2 and 31.5", h.Histogram.GetSampleCount(), h.Histogram.GetSampleSum())
	}
	for _, b := range h.Histogram.GetBucket() {
		if b.GetUpperBound() == 2.5 && b.GetCumulativeCount() != 1 {
			t.Errorf("le=2.5 bucket holds %d passes, want 1", b.GetCumulativeCount())
		}
	}
	if ts := value(t, fams, "romsyncd_last_successful_pass_timestamp_seconds", prof("gba")); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("last successful pass timestamp %v is not now", ts)
	}
	if _, ok := find(fams, "romsyncd_last_successful_pass_timestamp_seconds", prof("psx")); ok {
		t.Error("psx never passed but has a last-success timestamp")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("scrape lacks %s", name)
		}
	}
}

func TestForget(t *testing.T) {
	m := New()
	url := start(t, m)
	for _, p := range []string{"gba", "psx"} {
		m.FileInstalled(p, 10)
		m.PassDone(p, time.Second, true)
		m.Watches(p, 1, 0)
		m.TargetOnline(p, true)
	}
	m.Forget("gba")

	fams := scrape(t, url)
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "profile" && l.GetValue() == "gba" {
					t.Errorf("%s still has a series for the forgotten profile gba", name)
				}
			}
		}
	}
	if got := value(t, fams, "romsyncd_files_installed_total", prof("psx")); got != 1 {
		t.Errorf("psx files installed = %v after forgetting gba, want 1", got)
	}

	// A profile that comes back starts from zero.
	m.VerifyFailure("gba")
	fams = scrape(t, url)
	if got := value(t, fams, "romsyncd_files_installed_total", prof("gba")); got != 0 {
		t.Errorf("gba files installed = %v after it came back, want 0", got)
	}
	if got := value(t, fams, "romsyncd_verify_failures_total", prof("gba")); got != 1 {
		t.Errorf("gba verify failures = %v, want 1", got)
	}
}

func TestListenAddress(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"127.0.0.1:0", false, true},
		{"127.0.0.2:0", false, true},
		{"localhost:0", false, true},
		{"[::1]:0", false, true},
		{":9108", false, false},
		{"0.0.0.0:9108", false, false},
		{"[::]:9108", false, false},
		{"192.168.1.20:9108", false, false},
		{"metrics.example:9108", false, false},
		{"127.0.0.1", false, false}, // no port
		{"0.0.0.0:0", true, true},
	} {
		t.Run(fmt.Sprintf("%s/allow=%v", tc.addr, tc.allow), func(t *testing.T) {
			ln, err := listen(tc.addr, tc.allow)
			if tc.addr == "[::1]:0" && errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Skip("no IPv6 loopback in this environment")
			}
			if ln != nil {
				ln.Close()
			}
			if tc.ok && err != nil {
				t.Fatalf("listen: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.addr)) {
				t.Fatalf("listen = %v, want an error naming %q", err, tc.addr)
			}
		})
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	err := New().Serve(context.Background(), "0.0.0.0:9108", false)
	if err == nil || !strings.Contains(err.Error(), "0.0.0.0:9108") || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Serve = %v, want a refusal naming the address", err)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServe(t *testing.T) {
	m := New()
	m.TargetOnline("gba", true)
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, addr, false) }()

	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("scrape: %s", resp.Status)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if _, err := c.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("still serving after Serve returned")
	}
}

func TestConcurrentRecording(t *testing.T) {
	m := New()
	url := start(t, m)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("p%d", i%2)
			for range 200 {
				m.FileInstalled(p, 1)
				m.DirtyFolders(p, i)
				m.PassDone(p, time.Millisecond, true)
			}
		}()
	}
	for range 5 {
		scrape(t, url)
	}
	wg.Wait()
	fams := scrape(t, url)
	for _, p := range []string{"p0", "p1"} {
		if got := value(t, fams, "romsyncd_files_installed_total", prof(p)); got != 400 {
			t.Errorf("%s files installed = %v, want 400", p, got)
		}
	}
}

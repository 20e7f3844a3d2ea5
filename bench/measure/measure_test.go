package measure

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	line := "4242 (we(ird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 12345 1000 200"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != 17 || st.UTime != 250 || st.STime != 75 || st.CUTime != 3 || st.CSTime != 4 {
		t.Fatalf("parsed %+v", st)
	}
	if _, err := parseStat("12 (short) S 1 2"); err == nil {
		t.Fatal("a truncated line parsed")
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {95, 10}, {10, 1}, {100, 10}} {
		if got := Percentile(xs, c.p); got != c.want {
			t.Errorf("p%.0f = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty input")
	}
}

func writeFile(t *testing.T, p, content string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestCompare(t *testing.T) {
	mt := time.Date(2020, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	build := func(mutate func(dst string)) []string {
		t.Helper()
		src, dst := t.TempDir(), t.TempDir()
		for _, root := range []string{src, dst} {
			writeFile(t, filepath.Join(root, "A", "one.gb"), strings.Repeat("x", 5000), mt)
			writeFile(t, filepath.Join(root, "B", "two.gba"), "two", mt)
		}
		writeFile(t, filepath.Join(dst, ".romsyncd", "marker"), "bench", mt)
		if mutate != nil {
			mutate(dst)
		}
		diffs, _, err := Compare(src, dst, CompareOptions{ModifyWindow: time.Second, Ignore: []string{".romsyncd"}, Sample: true}, 10)
		if err != nil {
			t.Fatal(err)
		}
		return diffs
	}
	if d := build(nil); len(d) != 0 {
		t.Fatalf("identical trees differ: %v", d)
	}
	cases := map[string]func(dst string){
		"missing": func(dst string) { os.Remove(filepath.Join(dst, "B", "two.gba")) },
		"extra":   func(dst string) { writeFile(t, filepath.Join(dst, "B", "three.gba"), "3", mt) },
		"size":    func(dst string) { writeFile(t, filepath.Join(dst, "B", "two.gba"), "two!", mt) },
		"mtime":   func(dst string) { writeFile(t, filepath.Join(dst, "B", "two.gba"), "two", mt.Add(2*time.Second)) },
		"content": func(dst string) {
			writeFile(t, filepath.Join(dst, "A", "one.gb"), strings.Repeat("x", 4999)+"y", mt)
		},
	}
	for name, m := range cases {
		if d := build(m); len(d) != 1 || !strings.Contains(d[0], name) {
			t.Errorf("%s: got %v", name, d)
		}
	}
	// Within the modify window is fine (exFAT drops sub-second parts).
	if d := build(func(dst string) {
		writeFile(t, filepath.Join(dst, "B", "two.gba"), "two", mt.Truncate(time.Second))
	}); len(d) != 0 {
		t.Errorf("sub-second mtime difference reported: %v", d)
	}
}

// copier is a toy daemon: it polls src/folder and copies new files through a
// temp file and a rename, as real mirrors do.
func copier(ctx context.Context, src, dst, folder string) {
	for {
		entries, _ := os.ReadDir(filepath.Join(src, folder))
		for _, e := range entries {
			to := filepath.Join(dst, folder, e.Name())
			if _, err := os.Stat(to); err == nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, folder, e.Name()))
			if err != nil || len(b) < 1000 {
				continue // still being written
			}
			tmp := filepath.Join(dst, folder, ".tmp")
			if err := os.WriteFile(tmp, b, 0o644); err == nil {
				os.Rename(tmp, to)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestLatency(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for _, root := range []string{src, dst} {
		if err := os.Mkdir(filepath.Join(root, "GB"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copier(ctx, src, dst, "GB")
	}()
	defer func() { cancel(); wg.Wait() }()
	res, err := Latency(context.Background(), LatencyConfig{
		Src: src, Dst: dst, Folder: "GB", Tag: "t", N: 5, Size: 1000, Gap: time.Millisecond, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) != 5 || res.P50 <= 0 || res.P95 < res.P50 || res.Max < res.P95 {
		t.Fatalf("result %+v", res)
	}
}

func TestLatencyTimesOut(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(src, "GB"), 0o755)
	_, err := Latency(context.Background(), LatencyConfig{
		Src: src, Dst: dst, Folder: "GB", N: 1, Size: 10, Timeout: 50 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "did not appear") {
		t.Fatalf("err = %v", err)
	}
}

func TestIdleOwnProcess(t *testing.T) {
	res, err := Idle(context.Background(), IdleConfig{
		PID: os.Getpid(), Tick: 10 * time.Millisecond, Quiet: 1, SettleMax: time.Second, Window: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.RSSKiB <= 0 || res.HWMKiB < res.RSSKiB || res.CPUSeconds < 0 || res.WindowSeconds < 0.05 {
		t.Fatalf("result %+v", res)
	}
}

func TestWaitInSync(t *testing.T) {
	tests := []struct {
		name    string
		doneAt  int // the poll that reports in sync; 0: never
		failAt  int // the poll that fails; 0: never
		wantErr string
	}{
		{name: "in sync on the third poll", doneAt: 3},
		{name: "profile fails", failAt: 2, wantErr: "profile failed"},
		{name: "never in sync", wantErr: "not in sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			polls := 0
			res, err := WaitInSync(context.Background(), InSyncConfig{
				PID: os.Getpid(), Poll: time.Millisecond, Timeout: 200 * time.Millisecond,
				Check: func(context.Context) (bool, error) {
					polls++
					if polls == tt.failAt {
						return false, errors.New("profile failed")
					}
					return polls == tt.doneAt, nil
				},
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Polls != tt.doneAt || res.Seconds <= 0 || res.HWMKiB < res.RSSKiB || res.RSSKiB <= 0 {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestWaitInSyncDaemonGone(t *testing.T) {
	_, err := WaitInSync(context.Background(), InSyncConfig{
		PID: 1 << 30, Poll: time.Millisecond, Timeout: time.Second,
		Check: func(context.Context) (bool, error) { return false, nil },
	})
	if err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("err = %v", err)
	}
}

// Package measure times how fast a daemon propagates a new file, samples a
// process tree's CPU and memory, and compares a mirror with its source for
// the benchmark runner.
package measure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// LatencyConfig says where and how to write probe files.
type LatencyConfig struct {
	Src, Dst string        // library root and its mirror
	Folder   string        // existing folder (relative) that receives the probes
	Tag      string        // makes probe names unique per run
	N        int           // samples
	Size     int           // bytes per probe file
	Gap      time.Duration // pause after a probe arrived, before the next one
	Timeout  time.Duration // per sample
	Poll     time.Duration // how often the mirror is checked
}

// LatencyResult summarizes the samples in milliseconds.
type LatencyResult struct {
	Samples []float64 `json:"samples_ms"`
	P50     float64   `json:"p50_ms"`
	P95     float64   `json:"p95_ms"`
	Min     float64   `json:"min_ms"`
	Max     float64   `json:"max_ms"`
}

// Latency writes cfg.N files into the library one after the other and
// measures, for each, the time from the start of its write until the mirror
// holds a file of the right size under the same name; the content is then
// compared (untimed).
func Latency(ctx context.Context, cfg LatencyConfig) (LatencyResult, error) {
	var res LatencyResult
	if cfg.N < 1 || cfg.Size < 1 {
		return res, fmt.Errorf("latency: need at least one sample of at least one byte")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Millisecond
	}
	content := make([]byte, cfg.Size)
	rnd := rand.New(rand.NewPCG(uint64(cfg.Size), uint64(cfg.N)))
	for i := range cfg.N {
		for j := range content {
			content[j] = byte(rnd.Uint32())
		}
		name := fmt.Sprintf("Latency Probe %s %03d (World).gba", cfg.Tag, i+1)
		src := filepath.Join(cfg.Src, cfg.Folder, name)
		dst := filepath.Join(cfg.Dst, cfg.Folder, name)
		start := time.Now()
		if err := writeInChunks(src, content); err != nil {
			return res, err
		}
		if err := waitForSize(ctx, dst, int64(cfg.Size), cfg.Poll, cfg.Timeout); err != nil {
			return res, fmt.Errorf("sample %d: %w", i+1, err)
		}
		res.Samples = append(res.Samples, float64(time.Since(start).Microseconds())/1000)
		got, err := os.ReadFile(dst)
		if err != nil {
			return res, fmt.Errorf("sample %d: read %s: %w", i+1, dst, err)
		}
		if !bytes.Equal(got, content) {
			return res, fmt.Errorf("sample %d: %s has the right size but the wrong content", i+1, dst)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(cfg.Gap):
		}
	}
	res.P50 = Percentile(res.Samples, 50)
	res.P95 = Percentile(res.Samples, 95)
	res.Min = slices.Min(res.Samples)
	res.Max = slices.Max(res.Samples)
	return res, nil
}

// writeInChunks writes a file the way a file manager copies one: create,
// several writes, close.
func writeInChunks(p string, content []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create probe %s: %w", p, err)
	}
	for off := 0; off < len(content); off += 64 << 10 {
		if _, err := f.Write(content[off:min(off+64<<10, len(content))]); err != nil {
			f.Close()
			return fmt.Errorf("write probe %s: %w", p, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close probe %s: %w", p, err)
	}
	return nil
}

// waitForSize polls until p exists with the given size.
func waitForSize(ctx context.Context, p string, size int64, poll, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		info, err := os.Stat(p)
		if err == nil && info.Mode().IsRegular() && info.Size() == size {
			return nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear with %d bytes within %s", p, size, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of xs,
// or 0 when xs is empty.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999)
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

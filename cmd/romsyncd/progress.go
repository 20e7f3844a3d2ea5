package main

import (
	"fmt"
	"io"
	stdsync "sync"
	"time"
)

// progressBar draws one line of progress (files and bytes) on a terminal.
type progressBar struct {
	w       io.Writer
	profile string

	mu         stdsync.Mutex
	files      int
	bytes      int64
	totalFiles int
	totalBytes int64
	start      time.Time
	last       time.Time
	drawn      bool
}

func newProgressBar(w io.Writer, profile string) *progressBar {
	return &progressBar{w: w, profile: profile, start: time.Now()}
}

// Planned implements sync.Progress.
func (p *progressBar) Planned(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.totalFiles, p.totalBytes = files, bytes
	p.draw(true)
}

// Done implements sync.Progress.
func (p *progressBar) Done(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files += files
	p.bytes += bytes
	p.draw(false)
}

func (p *progressBar) draw(force bool) {
	now := time.Now()
	if !force && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	if p.totalFiles == 0 {
		return
	}
	p.last = now
	const width = 30
	frac := 1.0
	if p.totalBytes > 0 {
		frac = float64(p.bytes) / float64(p.totalBytes)
	}
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		if i < n {
			bar[i] = '='
		} else {
			bar[i] = ' '
		}
	}
	rate := ""
	if el := now.Sub(p.start).Seconds(); el > 0.5 {
		rate = fmt.Sprintf(" %s/s", bytesText(int64(float64(p.bytes)/el)))
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s] %d/%d files %s/%s%s", p.profile, bar, p.files, p.totalFiles,
		bytesText(p.bytes), bytesText(p.totalBytes), rate)
	p.drawn = true
}

func (p *progressBar) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

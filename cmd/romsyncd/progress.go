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
	bytes      int64 // written to the card so far (files in flight too)
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

// Copying implements sync.StreamProgress: bytes move while a file is
// written, not only when it is done.
func (p *progressBar) Copying(bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes = min(p.bytes+bytes, p.totalBytes) // a file copied again after a failed verify counts once
	p.draw(false)
}

// Done implements sync.Progress; the bytes came through Copying.
func (p *progressBar) Done(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files += files
	p.draw(false)
}

// logWriter writes log lines to w without cutting into the progress bar
// drawn on the same terminal: the bar's line is cleared first and drawn
// again after the log line.
type logWriter struct {
	w   io.Writer
	mu  stdsync.Mutex
	bar *progressBar // the bar on screen; nil when none
}

func (l *logWriter) setBar(b *progressBar) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bar = b
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bar == nil {
		return l.w.Write(p)
	}
	l.bar.mu.Lock()
	defer l.bar.mu.Unlock()
	if l.bar.drawn {
		fmt.Fprint(l.bar.w, "\r\x1b[K")
	}
	n, err := l.w.Write(p)
	if l.bar.drawn {
		l.bar.draw(true)
	}
	return n, err
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
		p.drawn = false
	}
}

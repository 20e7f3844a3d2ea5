package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgressBytesMoveWhileAFileIsWritten: the bar's bytes advance as a
// file is written (Copying), not only when it is done, and never pass the
// total (a file copied again after a failed verify).
func TestProgressBytesMoveWhileAFileIsWritten(t *testing.T) {
	var out bytes.Buffer
	b := newProgressBar(&out, "p")
	b.Planned(1, 150<<20)
	b.Copying(50 << 20)
	if b.bytes != 50<<20 || b.files != 0 {
		t.Fatalf("after 50 MiB of one file: %d bytes, %d files", b.bytes, b.files)
	}
	b.Copying(200 << 20)
	b.Done(1, 150<<20)
	if b.bytes != 150<<20 || b.files != 1 {
		t.Fatalf("done: %d bytes, %d files; want the total, 1", b.bytes, b.files)
	}
}

// TestLogLinesNeverCutIntoTheBar: on one terminal (stdout and stderr to
// the same screen), a log line written while the bar is drawn starts on a
// line of its own, and the bar is drawn again after it.
func TestLogLinesNeverCutIntoTheBar(t *testing.T) {
	var screen bytes.Buffer
	b := newProgressBar(&screen, "p")
	logs := &logWriter{w: &screen}
	logs.setBar(b)
	b.Planned(2, 100)
	if _, err := logs.Write([]byte("level=INFO msg=\"created target\"\n")); err != nil {
		t.Fatal(err)
	}
	got := screen.String()
	i := strings.Index(got, "level=INFO")
	if i < 0 {
		t.Fatalf("log line missing: %q", got)
	}
	if !strings.HasSuffix(got[:i], "\r\x1b[K") {
		t.Errorf("the log line does not start on a cleared line: %q", got)
	}
	if !strings.Contains(got[i:], "\n\r\x1b[Kp [") {
		t.Errorf("the bar is not drawn again after the log line: %q", got)
	}
}

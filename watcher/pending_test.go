package watcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestPendingEmitsAfterQuietPeriod(t *testing.T) {
	p := newPending(2*time.Second, time.Minute)
	p.mark("gba", at(0))
	p.mark("gba", at(time.Second))

	_, ok := p.take(at(2500 * time.Millisecond))
	assert.False(t, ok, "due 2 s after the last event, not the first")
	next, ok := p.nextDue()
	require.True(t, ok)
	assert.Equal(t, at(3*time.Second), next, "next look once the quiet period of the last event ends")

	b, ok := p.take(at(3 * time.Second))
	require.True(t, ok)
	assert.Equal(t, Batch{Dirs: []string{"gba"}}, b)
	_, ok = p.nextDue()
	assert.False(t, ok, "nothing left")
}

func TestPendingMaxDelayCapsAFolderThatNeverGoesQuiet(t *testing.T) {
	const (
		debounce = 2 * time.Second
		maxDelay = 5 * time.Second
		step     = 100 * time.Millisecond // a slow writer: one write every 100 ms
		writing  = 12 * time.Second
	)
	p := newPending(debounce, maxDelay)
	var emitted []time.Duration
	var first time.Duration = -1
	for d := time.Duration(0); d <= writing+debounce+step; d += step {
		now := at(d)
		if d <= writing {
			if first < 0 {
				first = d
			}
			p.mark("ps2", now)
		}
		if b, ok := p.take(now); ok {
			require.Equal(t, []string{"ps2"}, b.Dirs)
			assert.LessOrEqual(t, d-first, maxDelay, "emitted at most MaxDelay after its first pending event")
			emitted = append(emitted, d)
			first = -1
		}
	}
	// Forced out at 5 s and 10.1 s while writes kept coming, then once
	// more 2 s after the last write at 12 s.
	assert.Equal(t, []time.Duration{5 * time.Second, 10100 * time.Millisecond, 14 * time.Second}, emitted)
}

func TestPendingFoldersDueTogetherShareABatch(t *testing.T) {
	p := newPending(time.Second, time.Minute)
	for _, d := range []string{"snes", ".", "gba/hacks", "gba"} {
		p.mark(d, at(0))
	}
	p.mark("late", at(500*time.Millisecond))

	b, ok := p.take(at(time.Second))
	require.True(t, ok)
	assert.Equal(t, Batch{Dirs: []string{".", "gba", "gba/hacks", "snes"}}, b, "sorted, unique, one batch")

	b, ok = p.take(at(1500 * time.Millisecond))
	require.True(t, ok)
	assert.Equal(t, Batch{Dirs: []string{"late"}}, b)
}

func TestPendingZeroDebounceEmitsOnTheNextTurn(t *testing.T) {
	p := newPending(0, time.Minute)
	p.mark("nes", at(0))
	p.mark("nes", at(0))
	b, ok := p.take(at(0))
	require.True(t, ok)
	assert.Equal(t, []string{"nes"}, b.Dirs)
}

func TestPendingZeroMaxDelayEmitsOnTheNextTurn(t *testing.T) {
	p := newPending(time.Second, 0)
	p.mark("nes", at(0))
	b, ok := p.take(at(0))
	require.True(t, ok)
	assert.Equal(t, []string{"nes"}, b.Dirs)
}

func TestPendingFullPassReplacesFolders(t *testing.T) {
	p := newPending(time.Second, time.Minute)
	p.mark("gb", at(0))
	p.markAll(at(100 * time.Millisecond))
	p.mark("gbc", at(200*time.Millisecond))

	b, ok := p.take(at(time.Second))
	require.True(t, ok)
	assert.Equal(t, Batch{Dirs: []string{"gb"}}, b, "a folder due before the full pass is emitted")

	b, ok = p.take(at(1100 * time.Millisecond))
	require.True(t, ok)
	assert.Equal(t, Batch{All: true}, b, "the full pass covers the folders still pending")
	_, ok = p.nextDue()
	assert.False(t, ok)
	_, ok = p.take(at(time.Hour))
	assert.False(t, ok)
}

func TestPendingResetForgetsEverything(t *testing.T) {
	p := newPending(0, 0)
	p.mark("a", at(0))
	p.markAll(at(0))
	p.reset()
	_, ok := p.take(at(time.Hour))
	assert.False(t, ok)
}

func TestPendingMemoryIsBoundedByFolders(t *testing.T) {
	p := newPending(time.Second, time.Minute)
	for i := range 200_000 {
		p.mark(fmt.Sprintf("f%02d", i%50), at(time.Duration(i)*time.Microsecond))
	}
	assert.Len(t, p.dirs, 50, "one entry per folder, however many events")

	now := at(0)
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Microsecond)
		p.mark("f07", now)
	})
	assert.Zero(t, allocs, "an event for a pending folder allocates nothing")

	// A burst over many folders does not pin its map once emitted.
	for i := range 5000 {
		p.mark(fmt.Sprintf("big/%d", i), at(time.Minute))
	}
	b, ok := p.take(at(time.Hour))
	require.True(t, ok)
	assert.Len(t, b.Dirs, 5050)
	assert.Zero(t, p.peak, "the emptied map was reallocated")
	assert.Empty(t, p.dirs)
}

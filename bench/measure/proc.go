package measure

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, fixed at
// 100 in the Linux ABI).
const userHZ = 100

// procStat holds the fields of /proc/PID/stat that the idle probe uses.
type procStat struct {
	PPID                         int
	UTime, STime, CUTime, CSTime int64 // clock ticks
}

// parseStat parses one /proc/PID/stat line. The command name is
// parenthesised and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(line string) (procStat, error) {
	var st procStat
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return st, fmt.Errorf("parse stat %q: no command name", line)
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
	if len(f) < 15 {
		return st, fmt.Errorf("parse stat %q: %d fields", line, len(f))
	}
	var err error
	nums := []*int64{&st.UTime, &st.STime, &st.CUTime, &st.CSTime}
	for k, p := range nums {
		if *p, err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return st, fmt.Errorf("parse stat field %d: %w", 14+k, err)
		}
	}
	if st.PPID, err = strconv.Atoi(f[1]); err != nil {
		return st, fmt.Errorf("parse stat ppid: %w", err)
	}
	return st, nil
}

func readStat(proc string, pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	return parseStat(string(bytes.TrimSpace(b)))
}

// treeTicks returns the CPU ticks used by pid, its reaped children and its
// live descendants (lsyncd does its work in rsync children).
func treeTicks(proc string, pid int) (int64, error) {
	root, err := readStat(proc, pid)
	if err != nil {
		return 0, err
	}
	total := root.UTime + root.STime + root.CUTime + root.CSTime
	entries, err := os.ReadDir(proc)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", proc, err)
	}
	byPID := map[int]procStat{}
	parent := map[int]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		if st, err := readStat(proc, n); err == nil { // else: exited meanwhile
			byPID[n] = st
			parent[n] = st.PPID
		}
	}
	for n, st := range byPID {
		for p := parent[n]; p > 1; p = parent[p] {
			if p == pid {
				total += st.UTime + st.STime
				break
			}
		}
	}
	return total, nil
}

// memKiB returns VmRSS and VmHWM of pid in KiB.
func memKiB(proc string, pid int) (rss, hwm int64, err error) {
	f, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		if *dst, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("parse %s of %d: %w", k, pid, err)
		}
	}
	return rss, hwm, sc.Err()
}

// IdleConfig says how to wait for a daemon to settle and how long to watch it.
type IdleConfig struct {
	PID       int
	Proc      string        // /proc
	Tick      time.Duration // sampling step while settling (1 s)
	Quiet     int           // consecutive quiet steps that mean "settled"
	SettleMax time.Duration // give up settling after this long and measure anyway
	Window    time.Duration // measured idle time
}

// IdleResult is what a daemon cost while idle.
type IdleResult struct {
	SettleSeconds float64 `json:"settle_s"`
	Settled       bool    `json:"settled"`
	CPUSeconds    float64 `json:"cpu_s"`
	WindowSeconds float64 `json:"window_s"`
	RSSKiB        int64   `json:"rss_kib"`
	HWMKiB        int64   `json:"hwm_kib"`
}

// Idle waits until the process tree of cfg.PID uses at most one tick per
// step for cfg.Quiet steps in a row (its startup pass is over), then
// measures its CPU time over cfg.Window and its memory at the end.
func Idle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	var res IdleResult
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	start := time.Now()
	prev, err := treeTicks(cfg.Proc, cfg.PID)
	if err != nil {
		return res, err
	}
	quiet := 0
	for quiet < cfg.Quiet && time.Since(start) < cfg.SettleMax {
		if err := sleep(ctx, cfg.Tick); err != nil {
			return res, err
		}
		now, err := treeTicks(cfg.Proc, cfg.PID)
		if err != nil {
			return res, err
		}
		if now-prev <= 1 {
			quiet++
		} else {
			quiet = 0
		}
		prev = now
	}
	res.Settled = quiet >= cfg.Quiet
	res.SettleSeconds = time.Since(start).Seconds()
	begin := time.Now()
	if err := sleep(ctx, cfg.Window); err != nil {
		return res, err
	}
	end, err := treeTicks(cfg.Proc, cfg.PID)
	if err != nil {
		return res, err
	}
	res.WindowSeconds = time.Since(begin).Seconds()
	res.CPUSeconds = float64(end-prev) / userHZ
	if res.RSSKiB, res.HWMKiB, err = memKiB(cfg.Proc, cfg.PID); err != nil {
		return res, err
	}
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

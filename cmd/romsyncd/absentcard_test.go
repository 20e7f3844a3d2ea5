package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/romsyncd/romsyncd/internal/testfs"
)

// cardMachine is a work folder with a "/media" of its own (a tmpfs) where a
// card OTHER is mounted for user "user", a library, and a config whose
// profile "knulli" targets media/user/KNULLI/roms, a card not inserted
// (udisks removed its mount folder). env makes romsyncd use that /media.
type cardMachine struct {
	dir, media string
	env        []string
}

func newCardMachine(t *testing.T, extraConfig string) *cardMachine {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &cardMachine{dir: dir}
	m.media = testfs.TmpfsAt(t, filepath.Join(dir, "media"), "4m")
	testfs.TmpfsAt(t, filepath.Join(m.media, "user", "OTHER"), "4m")
	writeTree(t, dir, map[string]string{
		"lib/Nintendo - Game Boy/Gamma (Japan).gb": "gamma\n",
		"config.yaml": "state_dir: state\n" + extraConfig + "profiles:\n" +
			"  - {name: knulli, source: lib, target: media/user/KNULLI/roms, debounce: 100ms}\n",
	})
	m.env = []string{cardRootsEnv + "=" + m.media}
	return m
}

// checkNothingCreated fails when the absent card's mount folder exists or
// anything was written on the filesystem that holds "/media".
func (m *cardMachine) checkNothingCreated(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(m.media, "user", "KNULLI")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the absent card's mount folder was created (stat: %v)", err)
	}
	ents, err := os.ReadDir(filepath.Join(m.media, "user"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "OTHER" {
		t.Errorf("media/user holds %v, want only OTHER", ents)
	}
}

// TestSyncAndInitNeverCreateAnAbsentCardsMountPoint: `sync` (first pass),
// `sync --dry-run` and `init` refuse a target under /media/USER/LABEL when
// no card is mounted there, exit 3, and create nothing (issue 10, point 1).
func TestSyncAndInitNeverCreateAnAbsentCardsMountPoint(t *testing.T) {
	m := newCardMachine(t, "")
	for _, args := range [][]string{
		{"sync", "--config", "config.yaml"},
		{"sync", "--config", "config.yaml", "--dry-run"},
		{"init", "--config", "config.yaml", "--profile", "knulli"},
	} {
		res := romsyncdEnv(t, m.dir, m.env, args...)
		if res.code != exitRefused {
			t.Errorf("romsyncd %q: exit %d, want %d", args, res.code, exitRefused)
		}
		want := m.media + "/user/KNULLI would be created on the filesystem that holds " + m.media + ", not on a mounted card"
		if !strings.Contains(res.stderr, want) {
			t.Errorf("romsyncd %q: stderr does not say %q:\n%s", args, want, res.stderr)
		}
		if strings.Contains(res.stdout, "created target") {
			t.Errorf("romsyncd %q says it created the target:\n%s", args, res.stdout)
		}
		m.checkNothingCreated(t)
	}

	// The card (exFAT) is inserted: init adopts it, sync fills it.
	card := testfs.ExFATAt(t, filepath.Join(m.media, "user", "KNULLI"), "32M")
	if err := os.Mkdir(filepath.Join(card, "roms"), 0o755); err != nil {
		t.Fatal(err)
	}
	if res := romsyncdEnv(t, m.dir, m.env, "init", "--config", "config.yaml", "--profile", "knulli"); res.code != 0 {
		t.Fatalf("init on the mounted card: exit %d", res.code)
	}
	if res := romsyncdEnv(t, m.dir, m.env, "sync", "--config", "config.yaml"); res.code != 0 {
		t.Fatalf("sync on the mounted card: exit %d", res.code)
	}
	if _, err := os.Stat(filepath.Join(card, "roms", "Nintendo - Game Boy", "Gamma (Japan).gb")); err != nil {
		t.Errorf("sync did not fill the mounted card: %v", err)
	}
}

// TestRunReportsAnAbsentCardOffline: a daemon started with a profile whose
// card is absent reports it paused-offline and creates nothing.
func TestRunReportsAnAbsentCardOffline(t *testing.T) {
	sockDir, err := os.MkdirTemp("/tmp", "rsx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s.sock")
	m := newCardMachine(t, "socket: "+sock+"\n")

	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, "romsyncd", "run", "--config", "config.yaml")
	cmd.Dir = m.dir
	cmd.Env = append(baseEnv(m.dir), m.env...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})

	var st []struct {
		Name    string `json:"name"`
		State   string `json:"state"`
		Offline string `json:"offline_reason"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := romsyncdEnv(t, m.dir, m.env, "status", "--socket", sock, "--json")
		if res.code == 0 {
			if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
				t.Fatalf("status --json: %v", err)
			}
			if len(st) == 1 && st[0].State == "paused-offline" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never reported knulli paused-offline (last status %+v); output:\n%s", st, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(st[0].Offline, "not on a mounted card") {
		t.Errorf("offline reason %q does not say the card is not mounted", st[0].Offline)
	}
	m.checkNothingCreated(t)
}

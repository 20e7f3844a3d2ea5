package cardstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The in-flight journal (.romsyncd/inflight) lists the target folders a run
// writes temp files into, and which of them it created, before it creates
// them. A run killed at any instant leaves it behind; the next run that
// opens the target removes the killed run's temp files there (even in a
// folder the library no longer has) and the folders it created and left
// empty, then clears the journal.

const journalName = "inflight"

type journal struct {
	// Dirs maps a target folder to whether romsyncd created it.
	Dirs map[string]bool `json:"dirs"`
}

// NoteInflight records that temp files are about to be written in dir
// (created: romsyncd is about to create it). The write is durable; a folder
// already recorded costs nothing.
func (t *State) NoteInflight(dir string, created bool) error {
	t.jmu.Lock()
	defer t.jmu.Unlock()
	if t.inflight == nil {
		t.inflight = map[string]bool{}
	}
	if was, ok := t.inflight[dir]; ok && (was || !created) {
		return nil
	}
	t.inflight[dir] = t.inflight[dir] || created
	data, err := json.Marshal(journal{Dirs: t.inflight})
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	return WriteFileAtomic(filepath.Join(t.meta, journalName), data, true)
}

// recoverInflight cleans up after a run that died with work in flight.
func (t *State) recoverInflight() error {
	p := filepath.Join(t.meta, journalName)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read journal %s: %w", p, err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		// Journal writes are atomic; an unreadable one is dropped: stale
		// temp files are still removed by the passes that list their folders.
		return os.Remove(p)
	}
	return t.settleInflight(j.Dirs)
}

// FinishInflight runs at the end of a pass: what the pass recorded is
// settled and the journal removed, so a clean run leaves nothing behind.
func (t *State) FinishInflight() error {
	t.jmu.Lock()
	dirs := t.inflight
	t.inflight = nil
	t.jmu.Unlock()
	if len(dirs) == 0 {
		return nil
	}
	return t.settleInflight(dirs)
}

// settleInflight removes temp files from the journal's folders, records
// which folders romsyncd created, removes those it created and left empty,
// and then the journal.
func (t *State) settleInflight(inflight map[string]bool) error {
	dirs := make([]string, 0, len(inflight))
	for d := range inflight {
		if ValidRel(d) {
			dirs = append(dirs, d)
		}
	}
	// Deepest first, so a created parent can go after its created child.
	sort.Slice(dirs, func(a, b int) bool { return strings.Count(dirs[a], "/") > strings.Count(dirs[b], "/") })
	for _, d := range dirs {
		abs, err := SafeDir(t.root, d)
		if err != nil {
			continue
		}
		ents, err := os.ReadDir(abs)
		if err != nil {
			continue // gone, or not a folder
		}
		left := 0
		for _, e := range ents {
			if e.Type().IsRegular() && IsTemp(e.Name()) {
				if err := os.Remove(filepath.Join(abs, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove stale temp file %s: %w", filepath.Join(abs, e.Name()), err)
				}
				continue
			}
			left++
		}
		if !inflight[d] || d == "." {
			continue
		}
		t.mu.Lock()
		f := t.folders[d]
		record := f != nil && len(f.Files) > 0 && !f.Created
		if f != nil {
			f.Created = true
		}
		hasFiles := f != nil && len(f.Files) > 0
		t.mu.Unlock()
		switch {
		case record:
			if err := t.Save(d, true); err != nil {
				return err
			}
		case !hasFiles && left == 0:
			if err := os.Remove(abs); err == nil {
				_ = FsyncDir(filepath.Dir(abs))
			}
		}
	}
	err := os.Remove(filepath.Join(t.meta, journalName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	return nil
}

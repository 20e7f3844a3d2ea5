package cardstate

import (
	"os"
	"path/filepath"
)

// folder returns the manifest of target folder dir, creating an empty one;
// t.mu is held.
func (t *State) folderLocked(dir string) *Folder {
	f := t.folders[dir]
	if f == nil {
		f = &Folder{Dir: dir, Files: map[string]*Entry{}}
		t.folders[dir] = f
	}
	return f
}

// Entry returns what the manifest of dir records under name, or nil.
func (t *State) Entry(dir, name string) *Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.folders[dir]; f != nil {
		return f.Files[name]
	}
	return nil
}

// Entries returns a copy of the manifest of dir.
func (t *State) Entries(dir string) map[string]*Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.folders[dir]
	if f == nil {
		return map[string]*Entry{}
	}
	out := make(map[string]*Entry, len(f.Files))
	for k, v := range f.Files {
		out[k] = v
	}
	return out
}

// Every reports whether fn holds for every entry of dir (true for none);
// fn runs under the manifests' lock and must not call the State.
func (t *State) Every(dir string, fn func(name string, e *Entry) bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.folders[dir]; f != nil {
		for k, v := range f.Files {
			if !fn(k, v) {
				return false
			}
		}
	}
	return true
}

// Pending returns the entries of dir that record an install in flight
// (nil when none do, the usual case).
func (t *State) Pending(dir string) map[string]*Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[string]*Entry
	if f := t.folders[dir]; f != nil {
		for k, v := range f.Files {
			if v.Pending != nil {
				if out == nil {
					out = map[string]*Entry{}
				}
				out[k] = v
			}
		}
	}
	return out
}

// Count is the number of files the manifest of dir lists.
func (t *State) Count(dir string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.folders[dir]; f != nil {
		return len(f.Files)
	}
	return 0
}

// Set records e under name in the manifest of dir (nil removes the entry).
// The change is in memory until Save.
func (t *State) Set(dir, name string, e *Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.folderLocked(dir)
	if e == nil {
		delete(f.Files, name)
	} else {
		f.Files[name] = e
	}
}

// Update changes the manifest of dir in place: fn gets its files (name to
// entry) and may set and delete entries. fn runs under the manifests' lock
// and must not call State.
func (t *State) Update(dir string, fn func(files map[string]*Entry)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(t.folderLocked(dir).Files)
}

// SetCreated records whether romsyncd created folder dir.
func (t *State) SetCreated(dir string, created bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.folderLocked(dir).Created = created
}

// CreatedEmpty reports whether romsyncd created folder dir and no
// installed file is recorded in it.
func (t *State) CreatedEmpty(dir string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.folders[dir]
	return f != nil && f.Created && len(f.Files) == 0
}

// Dirs lists the target folders whose manifest lists files.
func (t *State) Dirs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.folders))
	for d, f := range t.folders {
		if len(f.Files) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// EmptyCreated lists the folders romsyncd created that no installed file is
// recorded in any more (a run killed before it removed them).
func (t *State) EmptyCreated() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for d, f := range t.folders {
		if f.Created && len(f.Files) == 0 {
			out = append(out, d)
		}
	}
	return out
}

// Installed is the number of files the manifests list.
func (t *State) Installed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, f := range t.folders {
		n += len(f.Files)
	}
	return n
}

// Range calls fn for every recorded entry. fn runs under the manifests'
// lock and must not call State.
func (t *State) Range(fn func(dir, name string, e *Entry)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for dir, f := range t.folders {
		for name, e := range f.Files {
			fn(dir, name, e)
		}
	}
}

// Save writes the manifest of dir as it is now; durable also makes it
// durable. Saves of one manifest run one at a time, so the last one
// written is the last snapshot taken. A durable save also updates the
// host's copy (see OpenOptions.Copies).
func (t *State) Save(dir string, durable bool) error {
	t.mu.Lock()
	f := t.folderLocked(dir)
	t.mu.Unlock()
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	t.mu.Lock()
	snapshot := &Folder{Dir: f.Dir, Created: f.Created, Files: make(map[string]*Entry, len(f.Files))}
	for k, v := range f.Files {
		snapshot.Files[k] = v
	}
	t.mu.Unlock()
	data, err := encodeManifest(snapshot)
	if err != nil {
		return err
	}
	if err := writeManifest(t.meta, dir, data, durable); err != nil {
		return err
	}
	t.noteWritten(dir, data != nil)
	if durable {
		t.copies.write(dir, data)
	}
	return nil
}

// noteWritten records the signature of the manifest of dir this State just
// wrote (or removed), so that Reacquire reads again only what another
// process wrote meanwhile.
func (t *State) noteWritten(dir string, exists bool) {
	name := manifestName(dir)
	var sig fileSig
	if exists {
		fi, err := os.Stat(filepath.Join(t.meta, foldersDir, name))
		if err != nil {
			exists = false
		} else {
			sig = sigOf(fi)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if exists {
		t.sigs[name] = sig
	} else {
		delete(t.sigs, name)
	}
}

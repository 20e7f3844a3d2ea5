package sync

import (
	"sort"

	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// Kind is what a plan does with one target path.
type Kind string

// The kinds of plan actions.
const (
	KindCopy     Kind = "copy"     // new on the target
	KindReplace  Kind = "replace"  // a version romsyncd installed is replaced
	KindDelete   Kind = "delete"   // romsyncd installed it, the library no longer has it
	KindForget   Kind = "forget"   // drop a manifest entry, touch no file
	KindConflict Kind = "conflict" // nothing is written; reported
	KindRename   Kind = "rename"   // an installed file moved to its new name (dry runs report it)
)

// reasonCaseRename: the library renamed a file by case only, on a
// case-insensitive target.
const reasonCaseRename = "renamed (case)"

// action is one planned change in a target folder.
type action struct {
	Kind   Kind
	Name   string   // target file name
	Src    *srcFile // copy, replace
	Reason string
}

// folderPlan is the plan for one target folder.
type folderPlan struct {
	Dir       string
	Actions   []action
	Unchanged int
	Conflicts []Item
}

// planInput is everything the planner needs to know about one target
// folder; the planner itself touches no file.
type planInput struct {
	Dir      string
	Sources  []srcFile                   // files that map into Dir (Name and Key set)
	Manifest map[string]*cardstate.Entry // what romsyncd installed there
	Listing  map[string]targetStat       // what the target folder holds now
	Key      func(string) string         // collision key on the target
	SameTime func(recorded, now int64) bool
	Delete   bool // mirror mode: plan deletions
	// Complete is false when the sources of Dir could not all be listed:
	// then nothing is deleted.
	Complete bool
}

func (in planInput) join(name string) string {
	if in.Dir == "." {
		return name
	}
	return in.Dir + "/" + name
}

// plan decides, for one target folder, what to copy, replace, delete or
// report. Its rules are the product's promises:
//   - two library files that would land on one target name are a conflict:
//     both are reported and neither is written;
//   - a file romsyncd did not install is never overwritten or deleted: one in
//     the way of an install is a conflict;
//   - a file is up to date when the library still has the version recorded
//     in the manifest and the target still holds what was installed.
//
// Its length is the rules' switch: kept in one piece so that they read as
// one table (the files the library dropped are planned by planGone).
func plan(in planInput) folderPlan {
	p := folderPlan{Dir: in.Dir}
	key := in.Key
	if key == nil {
		key = func(s string) string { return s }
	}
	// The target's files and the manifest's by collision key. On a
	// case-sensitive card whose names are all in NFC the key is the name:
	// the maps are used as they are.
	listByKey := in.Listing
	if !keyedByName(in.Listing, key) {
		listByKey = make(map[string]targetStat, len(in.Listing))
		for _, st := range in.Listing {
			listByKey[key(st.Name)] = st
		}
	}
	var manByKey map[string]string // nil: the manifest's names are their keys
	if !keyedByName(in.Manifest, key) {
		manByKey = make(map[string]string, len(in.Manifest))
		for name := range in.Manifest {
			manByKey[key(name)] = name
		}
	}
	manName := func(k string) (string, bool) {
		if manByKey == nil {
			_, ok := in.Manifest[k]
			return k, ok
		}
		name, ok := manByKey[k]
		return name, ok
	}

	// Library files by collision key; a key two files share (a conflict,
	// rare) gets a group of its own.
	byKey := make(map[string]*srcFile, len(in.Sources))
	shared := map[string][]*srcFile{}
	keys := make([]string, 0, len(in.Sources))
	for i := range in.Sources {
		s := &in.Sources[i]
		o, dup := byKey[s.Key]
		switch {
		case !dup:
			byKey[s.Key] = s
			keys = append(keys, s.Key)
		case shared[s.Key] == nil:
			shared[s.Key] = []*srcFile{o, s}
		default:
			shared[s.Key] = append(shared[s.Key], s)
		}
	}
	sort.Strings(keys)
	held := byKey // keys the library still has
	for _, k := range keys {
		if g := shared[k]; g != nil {
			for _, s := range g {
				others := make([]string, 0, len(g)-1)
				for _, o := range g {
					if o != s {
						others = append(others, o.Rel)
					}
				}
				p.Conflicts = append(p.Conflicts, Item{Path: s.Rel, Target: in.join(s.Name),
					Reason: "same target name as " + joinList(others) + "; neither is copied"})
			}
			continue
		}
		s := byKey[k]
		st, onTarget := listByKey[k]
		mname, owned := manName(k)
		var e *cardstate.Entry
		if owned {
			e = in.Manifest[mname]
		}
		switch {
		case onTarget && st.Dir:
			p.Conflicts = append(p.Conflicts, Item{Path: s.Rel, Target: in.join(s.Name),
				Reason: "a folder or link named " + st.Name + " is in the way"})
		case onTarget && (!owned || !e.Installed() || mname != st.Name):
			p.Conflicts = append(p.Conflicts, Item{Path: s.Rel, Target: in.join(s.Name),
				Reason: "a file romsyncd did not install is in the way (" + st.Name + "); move it away or run `romsyncd init` to adopt it"})
		case !onTarget && owned && mname != s.Name:
			// Installed under another name that is gone now (e.g. a
			// case-only rename on a case-sensitive target): drop the stale
			// entry and install afresh.
			p.Actions = append(p.Actions, action{Kind: KindForget, Name: mname, Reason: "renamed"})
			p.Actions = append(p.Actions, action{Kind: KindCopy, Name: s.Name, Src: s, Reason: "new"})
		case !onTarget:
			reason := "new"
			if owned && e.Installed() {
				reason = "missing on target"
			}
			p.Actions = append(p.Actions, action{Kind: KindCopy, Name: s.Name, Src: s, Reason: reason})
		case mname != s.Name:
			// Same key, other spelling: the library renamed the file by case
			// only on a case-insensitive target. Replace it under the new name.
			p.Actions = append(p.Actions, action{Kind: KindReplace, Name: s.Name, Src: s, Reason: reasonCaseRename})
		case e.Source == s.Rel && e.SrcSize == s.Size && e.SrcMtime == s.Mtime &&
			st.Size == e.Target.Size && in.SameTime(e.Target.Mtime, st.Mtime):
			p.Unchanged++
		case e.Source == s.Rel && e.SrcSize == s.Size && e.SrcMtime == s.Mtime:
			p.Actions = append(p.Actions, action{Kind: KindReplace, Name: s.Name, Src: s, Reason: "changed on target"})
		default:
			p.Actions = append(p.Actions, action{Kind: KindReplace, Name: s.Name, Src: s, Reason: "changed in library"})
		}
	}

	planGone(&p, in, key, held)
	return p
}

// planGone plans the manifest's files whose library file is gone: they
// are deleted (mirror mode, library listed whole, target copy unchanged)
// or forgotten, never overwritten.
func planGone(p *folderPlan, in planInput, key func(string) string, held map[string]*srcFile) {
	names := make([]string, 0, len(in.Manifest))
	for name := range in.Manifest {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := in.Manifest[name]
		if _, ok := held[key(name)]; ok {
			continue
		}
		st, onTarget := in.Listing[name]
		switch {
		case !e.Installed():
			p.Actions = append(p.Actions, action{Kind: KindForget, Name: name, Reason: "install never completed"})
		case !onTarget:
			p.Actions = append(p.Actions, action{Kind: KindForget, Name: name, Reason: "gone from target and library"})
		case !in.Delete || !in.Complete:
			// update mode, or the library folder could not be listed whole
		case st.Dir || st.Size != e.Target.Size || !in.SameTime(e.Target.Mtime, st.Mtime):
			p.Actions = append(p.Actions, action{Kind: KindForget, Name: name, Reason: "changed on the target since romsyncd installed it; kept"})
		default:
			p.Actions = append(p.Actions, action{Kind: KindDelete, Name: name, Reason: "gone from library"})
		}
	}
}

func joinList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// keyedByName reports whether every name of m is its own collision key.
func keyedByName[V any](m map[string]V, key func(string) string) bool {
	for name := range m {
		if key(name) != name {
			return false
		}
	}
	return true
}

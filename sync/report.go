package sync

import (
	"sort"
	stdsync "sync"
	"time"

	"github.com/romsyncd/romsyncd/sync/outcome"
)

// Item is one path with a reason: a conflict, a skipped file, an error.
type Item struct {
	Path   string `json:"path"`             // library path (relative to the source), or target path for target-only items
	Target string `json:"target,omitempty"` // target path, relative to the target root
	Reason string `json:"reason"`
	// Skip classifies a skipped file (empty for conflicts and errors).
	Skip outcome.Skip `json:"kind,omitempty"`
}

// PlanItem is one planned change, for --dry-run.
type PlanItem struct {
	Kind   Kind   `json:"kind"`
	Path   string `json:"path"`             // target path, relative to the target root
	Source string `json:"source,omitempty"` // library path
	Bytes  int64  `json:"bytes,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// FolderMap is one library folder and the target folder it feeds.
type FolderMap struct {
	Source string `json:"source"`
	Target string `json:"target,omitempty"`
	Skip   string `json:"skipped,omitempty"`
}

// Report is the outcome of one pass over a profile.
type Report struct {
	Profile     string `json:"profile"`
	Source      string `json:"source"`
	Target      string `json:"target"`
	DryRun      bool   `json:"dry_run,omitempty"`
	Created     bool   `json:"created_target,omitempty"`
	Copied      int    `json:"copied"`
	CopiedBytes int64  `json:"copied_bytes"`
	Replaced    int    `json:"replaced"` // included in Copied
	Renamed     int    `json:"renamed"`
	Adopted     int    `json:"adopted,omitempty"`
	// VerifyFailures counts files whose read-back differed from what was
	// written (each was copied once more; those still wrong are in Errors).
	VerifyFailures int           `json:"verify_failures"`
	Deleted        int           `json:"deleted"`
	Unchanged      int           `json:"unchanged"`
	HashedBytes    int64         `json:"hashed_bytes"`
	Conflicts      []Item        `json:"conflicts"`
	Skipped        []Item        `json:"skipped"` // files left out with a reason (busy, too large, name, ...)
	Errors         []Item        `json:"errors"`
	Plan           []PlanItem    `json:"plan,omitempty"`
	Folders        []FolderMap   `json:"folders,omitempty"`
	DeletesHeld    string        `json:"deletes_held,omitempty"` // why planned deletions were not done
	Error          string        `json:"error,omitempty"`        // the profile could not run
	Kind           outcome.Kind  `json:"error_kind,omitempty"`   // the class of Error
	Duration       time.Duration `json:"-"`
	DurationMS     int64         `json:"duration_ms"`
	InSync         bool          `json:"in_sync"`
	// Moved counts the installed files kept where the device moved them
	// (moved.go); they are in Unchanged, Replaced or Deleted too.
	Moved int `json:"moved,omitempty"`

	mu stdsync.Mutex
}

// ErrorReport is the report of a profile that could not run at all.
func ErrorReport(profile, source, target string, err error) *Report {
	r := &Report{Profile: profile, Source: source, Target: target}
	r.setError(err)
	r.finish(time.Now())
	return r
}

// setError records the error that stopped the profile, and its kind.
func (r *Report) setError(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Error = err.Error()
	r.Kind = outcome.Of(err)
}

func (r *Report) add(f func(r *Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *Report) finish(start time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Duration = time.Since(start)
	r.DurationMS = r.Duration.Milliseconds()
	byPath := func(items []Item) {
		sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	}
	byPath(r.Conflicts)
	byPath(r.Skipped)
	byPath(r.Errors)
	sort.Slice(r.Plan, func(i, j int) bool {
		if r.Plan[i].Path != r.Plan[j].Path {
			return r.Plan[i].Path < r.Plan[j].Path
		}
		return r.Plan[i].Kind < r.Plan[j].Kind
	})
	sort.Slice(r.Folders, func(i, j int) bool { return r.Folders[i].Source < r.Folders[j].Source })
	for _, s := range []*[]Item{&r.Conflicts, &r.Skipped, &r.Errors} {
		if *s == nil {
			*s = []Item{}
		}
	}
	r.InSync = r.Error == "" && len(r.Conflicts) == 0 && len(r.Skipped) == 0 &&
		len(r.Errors) == 0 && r.DeletesHeld == "" && (!r.DryRun || len(r.Plan) == 0)
}

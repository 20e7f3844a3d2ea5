package daemon

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	romsync "github.com/romsyncd/romsyncd/sync"

	"github.com/romsyncd/romsyncd/status"
)

// record updates the state, the metrics and the log after a pass.
// Conflicts and skipped files are a state, not an event: each is logged
// when it appears and when it is settled, not on every pass.
func (r *runner) record(scope romsync.Scope, rep *romsync.Report, err error) {
	var news, settled []problemNote
	r.setState(func(st *runState) {
		st.lastPass = time.Now()
		st.lastDuration = rep.Duration
		st.err = nil
		if err != nil {
			st.phase, st.reason = reactionTo(err).phase, err.Error()
			return
		}
		news, settled = st.conflicts.update(scope, rep.Conflicts, "conflict")
		n, s := st.skipped.update(scope, rep.Skipped, "skipped")
		news, settled = append(news, n...), append(settled, s...)
		switch {
		case len(rep.Errors) > 0:
			st.phase, st.reason = phaseFailed, problemSummary(rep)
		case len(st.conflicts) > 0 || len(st.skipped) > 0 || rep.DeletesHeld != "":
			st.phase, st.reason = phaseNotInSync, notInSyncSummary(st, rep)
		default:
			st.phase, st.reason = phaseInSync, ""
		}
	})
	if r.metrics != nil {
		r.metrics.PassDone(r.name, rep.Duration, err == nil && rep.InSync)
		r.metrics.Conflicts(r.name, len(rep.Conflicts))
		r.metrics.Deleted(r.name, rep.Deleted)
		for range rep.VerifyFailures {
			r.metrics.VerifyFailure(r.name)
		}
		r.metrics.TargetOnline(r.name, err == nil || reactionTo(err).phase != phasePaused)
		if r.w != nil {
			ws := r.w.Stats()
			r.metrics.Watches(r.name, ws.Watches, ws.Polled)
		}
	}
	if rep.Copied+rep.Deleted+rep.Renamed+len(news)+len(settled)+len(rep.Errors) > 0 {
		r.log.Info("pass", "copied", rep.Copied, "bytes", rep.CopiedBytes, "renamed", rep.Renamed, "deleted", rep.Deleted,
			"unchanged", rep.Unchanged, "conflicts", len(rep.Conflicts), "skipped", len(rep.Skipped), "errors", len(rep.Errors),
			"duration", rep.Duration.Round(time.Millisecond))
	}
	for _, n := range news {
		r.log.Warn(n.what, "path", n.item.Path, "reason", n.item.Reason)
	}
	for _, n := range settled {
		r.log.Info(n.what+" settled", "path", n.item.Path)
	}
	for _, e := range rep.Errors {
		r.log.Warn("file failed", "path", e.Path, "reason", e.Reason)
	}
}

// problems are the files the passes left out (conflicts, or skipped
// files), by library path, as they stand now.
type problems map[string]romsync.Item

// problemNote is a problem that appeared or was settled, for the log.
type problemNote struct {
	what string
	item romsync.Item
}

// update replaces the problems within scope by those the pass found, and
// returns the ones that appeared and those that were settled.
func (p *problems) update(scope romsync.Scope, found []romsync.Item, what string) (news, settled []problemNote) {
	if *p == nil {
		*p = problems{}
	}
	inScope := func(rel string) bool {
		if scope.All {
			return true
		}
		return slices.Contains(scope.Dirs, path.Dir(rel))
	}
	now := make(map[string]romsync.Item, len(found))
	for _, it := range found {
		now[it.Path] = it
	}
	for k, it := range *p {
		if _, still := now[k]; !still && inScope(k) {
			delete(*p, k)
			settled = append(settled, problemNote{what, it})
		}
	}
	for k, it := range now {
		if old, ok := (*p)[k]; !ok || old.Reason != it.Reason {
			news = append(news, problemNote{what, it})
		}
		(*p)[k] = it
	}
	sort.Slice(news, func(i, j int) bool { return news[i].item.Path < news[j].item.Path })
	sort.Slice(settled, func(i, j int) bool { return settled[i].item.Path < settled[j].item.Path })
	return news, settled
}

// list is the problems for the control socket, by path.
func (p problems) list() []status.Problem {
	out := make([]status.Problem, 0, len(p))
	for _, it := range p {
		out = append(out, status.Problem{Path: it.Path, Reason: it.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// notInSyncSummary says in one line what keeps the profile out of sync.
func notInSyncSummary(st *runState, rep *romsync.Report) string {
	var parts []string
	if n := len(st.conflicts); n > 0 {
		parts = append(parts, fmt.Sprintf("%d conflict(s)", n))
	}
	if n := len(st.skipped); n > 0 {
		parts = append(parts, fmt.Sprintf("%d file(s) skipped", n))
	}
	if rep.DeletesHeld != "" {
		parts = append(parts, rep.DeletesHeld)
	}
	return strings.Join(parts, ", ") + "; see `romsyncd status --verbose`"
}

func problemSummary(rep *romsync.Report) string {
	switch {
	case len(rep.Errors) > 0:
		return rep.Errors[0].Path + ": " + rep.Errors[0].Reason
	case len(rep.Conflicts) > 0:
		return "conflict " + rep.Conflicts[0].Path + ": " + rep.Conflicts[0].Reason
	case len(rep.Skipped) > 0:
		return "skipped " + rep.Skipped[0].Path + ": " + rep.Skipped[0].Reason
	case rep.DeletesHeld != "":
		return rep.DeletesHeld
	}
	return ""
}

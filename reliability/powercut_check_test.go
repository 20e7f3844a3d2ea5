package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/romsyncd/romsyncd/internal/powerfs"
	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// What the power-cut trials check after a cut, and how they report it.
// checkOwnFiles checks romsyncd's files on the card after a cut: every one
// under a final name is complete. Temp and probe files are not final names.
func (w *world) checkOwnFiles(reverted []powerfs.Reverted) []string {
	meta := filepath.Join(w.target, ".romsyncd")
	var problems []string
	_ = filepath.WalkDir(meta, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(meta, p)
		rel = filepath.ToSlash(rel)
		base := path.Base(rel)
		var want string // what the file must be
		switch {
		case tempRE.MatchString(base), strings.HasPrefix(base, ".romsyncd-"), rel == "lock":
			return nil
		case rel == "marker":
			want = "a marker"
		case rel == "inflight":
			want = "the in-flight journal"
		case strings.HasPrefix(rel, "folders/") && manifestRE.MatchString(base):
			want = "a folder manifest"
		default:
			want = "a file of romsyncd's"
		}
		data, err := os.ReadFile(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf(".romsyncd/%s: %v", rel, err))
			return nil
		}
		bad := ""
		if want == "a folder manifest" {
			bad = badManifest(base, data)
		} else {
			bad = badJSON(data, rel == "marker")
		}
		if bad != "" {
			problems = append(problems, fmt.Sprintf(".romsyncd/%s (%s): %s%s", rel, want, bad, w.revertedNote(p, reverted)))
		}
		return nil
	})
	return problems
}

// empty says how a file a cut emptied looks (0 bytes, or zeros where
// its blocks were allocated but never written), or "".
func empty(data []byte) string {
	switch {
	case len(data) == 0:
		return "0 bytes"
	case len(bytes.Trim(data, "\x00")) == 0:
		return fmt.Sprintf("%d bytes, all NUL", len(data))
	}
	return ""
}

// badManifest says what is wrong with a folder manifest (a binary file
// with a trailing hash, see cardstate), or "" when nothing is.
func badManifest(name string, data []byte) string {
	if bad := empty(data); bad != "" {
		return bad
	}
	if _, err := cardstate.DecodeManifest(name, data); err != nil {
		return fmt.Sprintf("%d bytes, damaged: %v", len(data), err)
	}
	return ""
}

// badJSON says what is wrong with a file that must hold a JSON document,
// or "" when nothing is. A marker must also name its profile and id.
func badJSON(data []byte, marker bool) string {
	switch {
	case empty(data) != "":
		return empty(data)
	case bytes.IndexByte(data, 0) >= 0:
		return fmt.Sprintf("%d bytes with NULs in it", len(data))
	case !json.Valid(data):
		return fmt.Sprintf("%d bytes, not valid JSON (truncated?): %q", len(data), tail(string(data), 60))
	}
	if marker {
		var m struct {
			Profile string `json:"profile"`
			ID      string `json:"id"`
		}
		if err := json.Unmarshal(data, &m); err != nil || m.Profile == "" || m.ID == "" {
			return fmt.Sprintf("not a marker (profile %q, id %q, %v)", m.Profile, m.ID, err)
		}
	}
	return ""
}

// revertedNote says what the cut did to the file at target path p, if it
// took it back.
func (w *world) revertedNote(p string, reverted []powerfs.Reverted) string {
	rel, err := filepath.Rel(w.mnt, p)
	if err != nil {
		return ""
	}
	for _, r := range reverted {
		if r.Path == filepath.Join(w.power.Backing(), rel) {
			return fmt.Sprintf(" (the cut took it back from %d B to its last fsynced %d B: renamed into place before its data was fsynced)", r.Size, r.Durable)
		}
	}
	return ""
}

// describeReverted lists the files a cut took back, relative to the card.
func (w *world) describeReverted(reverted []powerfs.Reverted) string {
	if len(reverted) == 0 {
		return "none"
	}
	var out []string
	for _, r := range reverted {
		rel, err := filepath.Rel(w.power.Backing(), r.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = r.Path
		}
		out = append(out, fmt.Sprintf("%s %d B -> %d B", rel, r.Size, r.Durable))
	}
	if len(out) > 12 {
		out = append(out[:12], fmt.Sprintf("… and %d more", len(out)-12))
	}
	return strings.Join(out, ", ")
}

// revertedKind classifies a file a cut took back, for the summary.
func (w *world) revertedKind(r powerfs.Reverted) string {
	if r.Unlinked {
		return "unlinked inodes"
	}
	rel, err := filepath.Rel(filepath.Join(w.power.Backing(), filepath.Base(w.target)), r.Path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "outside the target"
	}
	rel = filepath.ToSlash(rel)
	base := path.Base(rel)
	switch {
	case tempRE.MatchString(base):
		return "temp files"
	case strings.HasPrefix(base, ".romsyncd-"):
		return "probe files"
	case rel == ".romsyncd/marker", rel == ".romsyncd/inflight", rel == ".romsyncd/lock":
		return rel
	case strings.HasPrefix(rel, ".romsyncd/folders/"):
		return "manifests"
	case strings.HasPrefix(rel, ".romsyncd/"):
		return "other romsyncd files"
	}
	if _, ok := w.user[rel]; ok {
		return "user files"
	}
	return "ROMs"
}

// countList prints a count map as "3 manifests, 1 ROMs", or "none".
func countList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	out := make([]string, 0, len(m))
	for k, n := range m {
		out = append(out, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// problemKind groups problems for the summary line.
func problemKind(p string) string {
	switch {
	case strings.Contains(p, "a folder manifest") && strings.Contains(p, "0 bytes"):
		return "0-byte manifest"
	case strings.Contains(p, "a folder manifest"):
		return "corrupt manifest"
	case strings.Contains(p, "a marker"):
		return "bad marker"
	case strings.Contains(p, "the in-flight journal"):
		return "bad journal"
	case strings.HasPrefix(p, ".romsyncd/"):
		return "bad romsyncd file"
	case strings.HasPrefix(p, "the next sync"):
		return "next sync failed"
	case strings.HasPrefix(p, "the second sync"):
		return "not converged after one sync"
	case strings.HasPrefix(p, "after the next sync"):
		return "mirror wrong after the next sync"
	case strings.Contains(p, "invariant 1"):
		return "bad ROM under a final name"
	case strings.Contains(p, "invariant 2"):
		return "user file touched"
	}
	return "other"
}

// whyNot says why a run did not end in sync: its report's error,
// conflicts, skips and errors, else the last line of its stderr.
func whyNot(r result) string {
	var out []string
	for _, rep := range r.reports {
		if rep.Error != "" {
			out = append(out, "error: "+rep.Error)
		}
		for _, list := range []struct {
			name  string
			items []item
		}{{"conflict", rep.Conflicts}, {"skipped", rep.Skipped}, {"error", rep.Errors}} {
			for i, it := range list.items {
				if i == 3 {
					out = append(out, fmt.Sprintf("… %d more %s", len(list.items)-3, list.name))
					break
				}
				out = append(out, fmt.Sprintf("%s %s: %s", list.name, it.Path, it.Reason))
			}
		}
		if rep.DeletesHeld != "" {
			out = append(out, "deletes held: "+rep.DeletesHeld)
		}
	}
	if len(out) == 0 {
		return lastLine(r.stderr)
	}
	return strings.Join(out, "; ")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return tail(s, 300)
}

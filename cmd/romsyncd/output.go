package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/romsyncd/romsyncd/internal/bytesize"
	romsync "github.com/romsyncd/romsyncd/sync"
)

// writeSummary prints a human summary of one profile's pass.
func writeSummary(w io.Writer, r *romsync.Report) error {
	var b strings.Builder
	state := "in sync"
	switch {
	case r.Error != "":
		state = "NOT RUN: " + r.Error
	case r.DryRun:
		state = "dry run, nothing changed"
		if len(r.Plan) == 0 {
			state = "dry run: in sync"
		}
	case !r.InSync:
		state = "NOT in sync"
	}
	switch {
	case r.Created && r.DryRun:
		fmt.Fprintf(&b, "%s: would create target %s\n", r.Profile, r.Target)
	case r.Created:
		fmt.Fprintf(&b, "%s: created target %s\n", r.Profile, r.Target)
	}
	for _, fm := range r.Folders {
		if r.DryRun || fm.Skip != "" {
			if fm.Skip != "" {
				fmt.Fprintf(&b, "  folder   %s: skipped (%s)\n", fm.Source, fm.Skip)
			} else {
				fmt.Fprintf(&b, "  folder   %s -> %s\n", fm.Source, fm.Target)
			}
		}
	}
	for _, p := range r.Plan {
		line := fmt.Sprintf("  %-8s %s", p.Kind, p.Path)
		if p.Source != "" && p.Source != p.Path {
			line += " <- " + p.Source
		}
		if p.Reason != "" {
			line += " (" + p.Reason + ")"
		}
		b.WriteString(line + "\n")
	}
	if !r.DryRun {
		for _, c := range r.Conflicts {
			fmt.Fprintf(&b, "  conflict %s: %s\n", c.Path, c.Reason)
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "  skipped  %s: %s\n", s.Path, s.Reason)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  error    %s: %s\n", e.Path, e.Reason)
	}
	if r.DeletesHeld != "" {
		fmt.Fprintf(&b, "  held     %s\n", r.DeletesHeld)
	}
	copied, bytes, replaced, renamed, deleted := r.Copied, r.CopiedBytes, r.Replaced, r.Renamed, r.Deleted
	verb, renVerb, delVerb := "copied", "renamed", "deleted"
	if r.DryRun {
		// A dry run copies nothing: count what its plan would do.
		copied, bytes, replaced, renamed, deleted = 0, 0, 0, 0, 0
		for _, p := range r.Plan {
			switch p.Kind {
			case romsync.KindRename:
				renamed++
			case romsync.KindCopy, romsync.KindReplace:
				copied++
				bytes += p.Bytes
				if p.Kind == romsync.KindReplace {
					replaced++
				}
			case romsync.KindDelete:
				deleted++
			}
		}
		verb, renVerb, delVerb = "to copy", "to rename", "to delete"
	}
	fmt.Fprintf(&b, "%s: %d %s (%s, %d replaced), %d %s, %d %s, %d unchanged, %d conflicts, %d skipped, %d errors in %s — %s\n",
		r.Profile, copied, verb, bytesText(bytes), replaced, renamed, renVerb, deleted, delVerb, r.Unchanged,
		len(r.Conflicts), len(r.Skipped), len(r.Errors), durationText(time.Duration(r.DurationMS)*time.Millisecond), state)
	if r.Adopted > 0 {
		fmt.Fprintf(&b, "%s: adopted %d existing file(s)\n", r.Profile, r.Adopted)
	}
	if r.Moved > 0 {
		fmt.Fprintf(&b, "%s: %d file(s) kept where the device moved them\n", r.Profile, r.Moved)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// bytesText renders a byte count the way the engine's messages do.
func bytesText(n int64) string { return bytesize.Format(n) }

func durationText(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

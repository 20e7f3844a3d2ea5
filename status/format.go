package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/romsyncd/romsyncd/internal/bytesize"
)

// FormatStatus writes st as a table for people: profile, state, dirty
// folders, queued bytes, last pass ("3m ago, 1.2s") and last error, followed
// by a note for each offline target and each profile whose folders are
// polled because the inotify watch limit was reached. now is the reference
// for "ago".
func FormatStatus(w io.Writer, st []ProfileStatus, now time.Time) error {
	if len(st) == 0 {
		_, err := io.WriteString(w, "no profiles configured\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tSTATE\tDIRTY\tQUEUED\tLAST PASS\tLAST ERROR")
	for _, p := range st {
		lastErr := oneLine(p.LastError)
		if lastErr == "" {
			lastErr = "-" // a cell, not trailing padding
		}
		name := p.Name
		if p.Card != "" {
			name += " (" + p.Card + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
			oneLine(name), oneLine(p.State), dirty(p.DirtyFolders), bytesize.Format(p.QueuedBytes), lastPass(p, now), lastErr)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status table: %w", err)
	}
	var notes strings.Builder
	for _, p := range st {
		if p.Offline != "" {
			fmt.Fprintf(&notes, "%s: target %s is offline: %s\n", oneLine(p.Name), oneLine(p.Target), oneLine(p.Offline))
		}
		if p.Polled > 0 {
			fmt.Fprintf(&notes, "%s: %d folders are polled, not watched (inotify watch limit reached: raise fs.inotify.max_user_watches)\n", oneLine(p.Name), p.Polled)
		}
	}
	if notes.Len() == 0 {
		return nil
	}
	if _, err := io.WriteString(w, "\n"+notes.String()); err != nil {
		return fmt.Errorf("write status notes: %w", err)
	}
	return nil
}

// dirty is the DIRTY cell: a count, or "all" when a full pass is due.
func dirty(n int) string {
	if n < 0 {
		return "all"
	}
	return fmt.Sprint(n)
}

// FormatProblems lists, per profile, the conflicts and the skipped files
// with the reason for each (`romsyncd status --verbose`).
func FormatProblems(w io.Writer, st []ProfileStatus) error {
	var b strings.Builder
	for _, p := range st {
		for _, c := range p.Conflicts {
			fmt.Fprintf(&b, "%s: conflict %s: %s\n", oneLine(p.Name), oneLine(c.Path), oneLine(c.Reason))
		}
		for _, c := range p.Skipped {
			fmt.Fprintf(&b, "%s: skipped %s: %s\n", oneLine(p.Name), oneLine(c.Path), oneLine(c.Reason))
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if _, err := io.WriteString(w, "\n"+b.String()); err != nil {
		return fmt.Errorf("write status problems: %w", err)
	}
	return nil
}

func lastPass(p ProfileStatus, now time.Time) string {
	if p.LastPass.IsZero() {
		return "never"
	}
	return ago(now.Sub(p.LastPass)) + ", " + shortDuration(p.LastPassDuration)
}

// ago formats how long ago something happened, in its largest whole unit.
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// shortDuration formats a pass duration: "350ms", "1.2s", "2m3s".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

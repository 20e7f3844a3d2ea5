package reliability

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// hostileFiles are library names a user's library really can hold on
// Linux: at the length limit, with control characters, only dots or
// spaces, leading dashes, dot-dot-looking, characters FAT rejects,
// decomposed Unicode, case-only twins.
func hostileFiles() []string {
	long := strings.Repeat("A", 251) + ".gba" // 255 bytes, the limit of ext4 and tmpfs
	longKana := strings.Repeat("ア", 83) + ".gba"
	return []string{
		"GBA/" + long,
		"GBA/" + longKana,
		"GBA/new\nline.gba",
		"GBA/tab\there.gba",
		"GBA/carriage\rreturn.gba",
		"GBA/...",
		"GBA/....",
		"GBA/ ",
		"GBA/   ",
		"GBA/-rf.gba",
		"GBA/--help",
		"GBA/-",
		"GBA/..foo",
		"GBA/..gba",
		"GBA/.. .gba",
		"GBA/trailing dot.",
		"GBA/trailing space ",
		" leading space.gba",
		`GBA/back\slash.gba`,
		"GBA/colon: the game.gba",
		`GBA/star*quote"less<more>pipe|q?.gba`,
		"GBA/Pokémon (NFC).gba",
		"GBA/Poke\u0301mon (NFD).gba",
		"GBA/Twins (NFC é).gba",
		"GBA/Twins (NFC e\u0301).gba",
		"GBA/Case Game.gba",
		"GBA/case game.gba",
		"GBA/No-Intro, chars! ' & + % $ [ ; ~ #.gba",
		"GBA/--/-- dash folder.gba",
		"GBA/...../dots folder.gba",
		"GBA/  /space folder.gba",
		"GBA/new\nline folder/x.gba",
		"GBA/" + strings.Repeat("D", 200) + "/" + strings.Repeat("E", 200) + "/" + strings.Repeat("F", 200) + "/deep.gba",
	}
}

// invalidUTF8Files are names that are not UTF-8 (an old Samba share's
// Latin-1 names).
func invalidUTF8Files() []string {
	return []string{
		"GBA/caf\xe9.gba",
		"GBA/\xff\xfe.gba",
	}
}

var invalidUTF8Dirs = []string{"caf\xe9 folder/x.gba"}

// fatName maps one name component the way the README documents for FAT
// and exFAT cards: NFC; " * : < > ? \ | as fullwidth look-alikes; control
// characters as control pictures; a trailing space or dot as ␠ or ．.
func fatName(name string) string {
	name = norm.NFC.String(name)
	var b strings.Builder
	for _, c := range name {
		switch {
		case c < 0x20:
			c += 0x2400
		case strings.ContainsRune(`"*:<>?\|`, c):
			c += 0xFEE0
		}
		b.WriteRune(c)
	}
	out := b.String()
	switch {
	case strings.HasSuffix(out, " "):
		out = strings.TrimSuffix(out, " ") + "\u2420"
	case strings.HasSuffix(out, "."):
		out = strings.TrimSuffix(out, ".") + "\uFF0E"
	}
	return out
}

func mapPath(rel string, f func(string) string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = f(p)
	}
	return strings.Join(parts, "/")
}

// hostileRun mirrors a library of hostile names twice and checks that
// every library file is either mirrored exactly or reported with a
// reason, that no run panics or exits with more than 1, and that the
// second run changes nothing.
func hostileRun(t *testing.T, w *world, files []string, fold func(string) string) {
	for i, rel := range files {
		if err := w.lib.put(rel, content(uint64(i)+1, int64(100+i))); err != nil {
			t.Fatalf("library file %q: %v", rel, err)
		}
	}
	w.putNew("GBA", 1000) // one ordinary file, to be mirrored whatever happens
	for run := 1; run <= 2; run++ {
		r := w.run(time.Minute, "sync", "--json")
		label := fmt.Sprintf("run %d", run)
		noPanic(t, label, r)
		if !r.finished || r.code > 1 || r.code < 0 || len(r.reports) != 1 {
			t.Fatalf("%s: %v (finished %v), want exit 0 or 1 with one report\nstdout:\n%s\nstderr:\n%s", label, r.exit, r.finished, r.stdout, r.stderr)
		}
		rep := r.reports[0]
		if rep.Error != "" {
			t.Fatalf("%s: the profile did not run: %s", label, rep.Error)
		}
		if run == 2 && (rep.Copied != 0 || rep.Deleted != 0 || rep.Renamed != 0) {
			t.Errorf("%s: a second run changed the target: copied %d, deleted %d, renamed %d\n%s", label, rep.Copied, rep.Deleted, rep.Renamed, r.stdout)
		}
		reported := map[string]string{}
		for _, list := range [][]item{rep.Skipped, rep.Errors, rep.Conflicts} {
			for _, it := range list {
				if strings.TrimSpace(it.Reason) == "" {
					t.Errorf("%s: %q reported without a reason", label, it.Path)
				}
				reported[it.Path] = it.Reason
			}
		}
		w.exclude = map[string]bool{}
		for _, rel := range w.lib.files() {
			trel := w.tgt(rel)
			got, err := hashFile(filepath.Join(w.target, filepath.FromSlash(trel)))
			want, _ := hashFile(w.lib.abs(rel))
			_, isReported := reported[lossy(rel)]
			switch {
			case err == nil && got == want && !isReported:
			case err == nil && got == want && isReported:
				// A twin that is reported may share its target name
				// with the one that was written... neither may be.
				t.Errorf("%s: %q is on the target as %q but also reported: %s", label, rel, trel, reported[lossy(rel)])
			case isReported:
				w.exclude[rel] = true
				t.Logf("%s: %q reported: %s", label, rel, reported[lossy(rel)])
			default:
				t.Errorf("%s: %q is neither mirrored as %q (%v) nor reported with a reason", label, rel, trel, err)
			}
		}
		if fold != nil {
			// Two library names with one target name (case, NFC): both
			// must be reported, neither written.
			byKey := map[string][]string{}
			for _, rel := range w.lib.files() {
				byKey[fold(w.tgt(rel))] = append(byKey[fold(w.tgt(rel))], rel)
			}
			for _, group := range byKey {
				if len(group) < 2 {
					continue
				}
				for _, rel := range group {
					if !w.exclude[rel] {
						t.Errorf("%s: %q shares its target name with %q but was not reported", label, rel, group)
					}
				}
			}
		}
		w.check(label, afterStop)
	}
}

// lossy is how a name looks in romsyncd's JSON report: every byte that is
// not UTF-8 becomes U+FFFD (encoding/json).
func lossy(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// noPanic fails the test when a run's output shows a Go panic.
func noPanic(t *testing.T, label string, r result) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", "runtime error", "SIGSEGV"} {
		if strings.Contains(r.stderr, s) || strings.Contains(r.stdout, s) {
			t.Errorf("%s: romsyncd panicked (%v):\n%s", label, r.exit, tail(r.stderr, 4000))
			return
		}
	}
}

// TestHostileNamesTmpfs mirrors hostile names to a tmpfs target: names
// are kept (in NFC), so two spellings of one NFC name collide.
func TestHostileNamesTmpfs(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	w.tgtRel = func(rel string) string { return mapPath(rel, norm.NFC.String) }
	hostileRun(t, w, hostileFiles(), func(s string) string { return s })
}

// TestHostileNamesExFAT mirrors hostile names to an exFAT card: names are
// mapped as the README says, case-only twins collide.
func TestHostileNamesExFAT(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{target: exfatTarget, targetSize: "128M"})
	w.tgtRel = func(rel string) string { return mapPath(rel, fatName) }
	fold := cases.Fold()
	hostileRun(t, w, hostileFiles(), func(s string) string { return fold.String(s) })
}

// TestInvalidUTF8FileName: a library file whose name is not UTF-8 is
// mirrored (tmpfs keeps any bytes) and must stay romsyncd's on the next
// runs: in sync, and deleted when the library drops it.
func TestInvalidUTF8FileName(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	hostileRun(t, w, invalidUTF8Files(), nil)
	for _, rel := range invalidUTF8Files() {
		if err := w.lib.remove(rel); err != nil {
			t.Fatal(err)
		}
	}
	w.sync("after the library deleted them")
	w.check("after the library deleted them", mirror)
}

// TestInvalidUTF8FolderName: a library folder whose name is not UTF-8.
func TestInvalidUTF8FolderName(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{})
	hostileRun(t, w, invalidUTF8Dirs, nil)
}

// TestInvalidUTF8OnExFAT: on a FAT-family card a name that is not UTF-8
// cannot be stored; it must be reported, not crash or stop the profile.
func TestInvalidUTF8OnExFAT(t *testing.T) {
	w := newWorld(t, seeded(t), worldOpts{target: exfatTarget, targetSize: "64M"})
	w.tgtRel = func(rel string) string { return mapPath(rel, fatName) }
	hostileRun(t, w, append(invalidUTF8Files(), invalidUTF8Dirs...), nil)
	for _, rel := range append(invalidUTF8Files(), invalidUTF8Dirs...) {
		if !w.exclude[rel] {
			t.Errorf("%q: not reported on exFAT", rel)
		}
	}
}

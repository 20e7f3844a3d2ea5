package sync

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/romsyncd/romsyncd/sync/cardstate"
	"github.com/romsyncd/romsyncd/sync/outcome"
)

// Init adopts a target folder for a profile (`romsyncd init`): it creates
// the folder if needed (never inside an unmounted card's mount point),
// writes the marker, and records as installed every file already on the
// target that is a copy of its library file (same path and size, same
// content by hash), so the first pass does not copy it again.
func Init(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	rep := &Report{Profile: opts.Profile, Source: opts.Source, Target: opts.Target, DryRun: opts.DryRun}
	if err := checkSource(opts.Source); err != nil {
		rep.setError(err)
		rep.finish(start)
		return rep, err
	}
	s := &Session{opts: opts}
	t, err := cardstate.Open(opts.Target, cardstate.OpenOptions{Profile: opts.Profile, Adopt: true, Unmounted: opts.Unmounted, DryRun: opts.DryRun, Copies: s.copiesDir()})
	if err != nil {
		rep.setError(err)
		rep.finish(start)
		return rep, err
	}
	defer t.Close()
	s = &Session{opts: opts, target: t, names: opts.Names, flt: filter{include: opts.Include, exclude: opts.Exclude}, log: opts.logger()}
	if s.names == nil {
		s.names = identityNames{}
	}
	rep.Created = t.Created()
	s.logHealed() // init adopts every identical file anyway
	err = s.probe(ctx)
	if err == nil {
		err = s.adopt(ctx, rep)
	}
	if err == nil {
		err = s.rememberTarget()
	}
	if err == nil && !opts.DryRun {
		err = s.target.DoneAdopting()
	}
	if err != nil {
		rep.setError(err)
	}
	rep.finish(start)
	// An init never copies: "in sync" here means nothing went wrong.
	rep.InSync = rep.Error == "" && len(rep.Errors) == 0
	return rep, err
}

func (s *Session) adopt(ctx context.Context, rep *Report) error {
	units, _, err := s.collect(Scope{All: true}, rep)
	if err != nil {
		return err
	}
	var hashed atomic.Int64
	defer func() { rep.HashedBytes += hashed.Load() }()
	buf := make([]byte, bufSize)
	for _, u := range units {
		abs, err := cardstate.SafeDir(s.target.Root(), u.Dir)
		if err != nil {
			rep.Errors = append(rep.Errors, Item{Path: u.Dir, Target: u.Dir, Reason: err.Error()})
			continue
		}
		listing, err := listTarget(abs)
		if err != nil {
			return outcome.OfTarget(abs, err)
		}
		changed := false
		for _, src := range u.Sources {
			if err := ctx.Err(); err != nil {
				return err
			}
			st, ok := listing[src.Name]
			if !ok || st.Dir {
				continue
			}
			if e := s.target.Entry(u.Dir, src.Name); e != nil && e.Installed() {
				continue
			}
			tp := join(u.Dir, src.Name)
			if st.Size != src.installSize() {
				rep.Conflicts = append(rep.Conflicts, Item{Path: src.Rel, Target: tp, Reason: fmt.Sprintf("on the target with another size (%d, library %d); not adopted", st.Size, src.installSize())})
				continue
			}
			hs, err := s.sourceHash(src, buf, &hashed)
			if err != nil {
				rep.Errors = append(rep.Errors, Item{Path: src.Rel, Target: tp, Reason: err.Error()})
				continue
			}
			ht, _, err := hashFile(filepath.Join(abs, src.Name), buf, &hashed)
			if err != nil {
				rep.Errors = append(rep.Errors, Item{Path: src.Rel, Target: tp, Reason: err.Error()})
				continue
			}
			if hs != ht {
				rep.Conflicts = append(rep.Conflicts, Item{Path: src.Rel, Target: tp, Reason: "on the target with other content; not adopted"})
				continue
			}
			if s.opts.DryRun {
				rep.Adopted++
				continue
			}
			s.target.Set(u.Dir, src.Name, &cardstate.Entry{Source: src.Rel, SrcSize: src.Size, SrcMtime: src.Mtime,
				Target: cardstate.Version{Size: st.Size, Mtime: st.Mtime, Hash: ht}})
			rep.Adopted++
			changed = true
		}
		if changed {
			if err := s.target.Save(u.Dir, true); err != nil {
				return outcome.OfTarget(abs, err)
			}
		}
	}
	return nil
}

package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/romsyncd/romsyncd/sync/outcome"
)

// stageRetry stages one file, retrying transient read errors with
// exponential backoff. A file that cannot be staged is reported and
// skipped (st.tmp empty); only target-wide failures are returned.
func (fr *folderRun) stageRetry(ctx context.Context, s *Session, c *copier, a action, rep *Report) (staged, error) {
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		st, err := c.stage(ctx, fr.dirOf(a), a)
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return staged{}, ctx.Err()
		}
		if outcome.Fatal(err) {
			return staged{}, err
		}
		// The card pulled: creating the temp file fails with ENOENT, which
		// is no busy library file.
		if oerr := s.target.Offline(); oerr != nil {
			return staged{}, fmt.Errorf("%w (%v)", oerr, err)
		}
		var tl *tooLargeError
		switch {
		case errors.As(err, &tl):
			fr.skip(rep, a, outcome.TooLarge, tl.Error())
			return staged{}, nil
		case errors.Is(err, errSourceChanged) || errors.Is(err, fs.ErrNotExist):
			fr.skip(rep, a, outcome.Busy, "busy: the library file changed while it was copied; retried next pass")
			return staged{}, nil
		case transient(err) && attempt < copyAttempts:
			s.log.Debug("retrying", "profile", s.opts.Profile, "path", a.Src.Rel, "attempt", attempt, "err", err)
			if serr := sleepCtx(ctx, backoff); serr != nil {
				return staged{}, serr
			}
			backoff *= 2
			continue
		}
		var tio *targetIOError
		if isTargetSide(err) || errors.As(err, &tio) {
			err = outcome.OfTarget(fr.abs, err)
			if outcome.Fatal(err) {
				return staged{}, err
			}
		} else {
			fr.noteSrcErr()
		}
		fr.fileError(rep, a, err)
		return staged{}, nil
	}
}

// skip reports a file of the folder left out of the pass.
func (fr *folderRun) skip(rep *Report, a action, why outcome.Skip, reason string) {
	rep.add(func(r *Report) {
		r.Skipped = append(r.Skipped, Item{Path: a.Src.Rel, Target: join(fr.u.Dir, a.Name), Reason: reason, Skip: why})
	})
}

package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/romsyncd/romsyncd/sync/cardstate"
)

// ErrSourceChanged is returned by CopyVerified when the source file changed
// while it was read: nothing was written under the final name.
var ErrSourceChanged = errSourceChanged

// Copied describes a file CopyVerified wrote: its content's hash and size,
// and the source's mtime (Unix ns) as it was read (the copy has it too).
type Copied struct {
	Hash  cardstate.Hash
	Size  int64
	Mtime int64
}

// CopyVerified copies one file with the engine's verified install: a temp
// file in dst's folder, hashed while copying, fsynced, read back (page
// cache dropped) and compared, renamed to dst, and the folder fsynced. The
// source is opened without updating its access time where allowed, and
// checked before and after the read: a source that changed meanwhile is
// ErrSourceChanged. dst must not exist (fs.ErrExist): a copy never
// overwrites. A full destination is outcome.ErrTargetFull.
func CopyVerified(ctx context.Context, src, dst string) (Copied, error) {
	return copyVerified(ctx, src, dst, false)
}

// ReplaceVerified is CopyVerified onto a dst that may exist: the verified
// copy is renamed over it, so dst is always either its old content or the
// complete new one.
func ReplaceVerified(ctx context.Context, src, dst string) (Copied, error) {
	return copyVerified(ctx, src, dst, true)
}

func copyVerified(ctx context.Context, src, dst string, replace bool) (Copied, error) {
	var hashed atomic.Int64
	c := newCopier(filepath.Dir(src), true, 0, &hashed)
	dstDir := filepath.Dir(dst)
	a := action{Kind: KindCopy, Name: filepath.Base(dst), Src: &srcFile{Rel: filepath.Base(src), Name: filepath.Base(dst)}}
	st, err := c.stage(ctx, dstDir, a)
	if err != nil {
		return Copied{}, err
	}
	done := false
	defer func() {
		if !done {
			os.Remove(st.tmp)
		}
	}()
	if err := c.verify(ctx, st, true); err != nil {
		return Copied{}, err
	}
	// The copy takes plain file permissions, not those of its source (every
	// file of a FAT-family card reports 0777). Refused on FAT: ignored.
	_ = os.Chmod(st.tmp, 0o644)
	if replace {
		err = os.Rename(st.tmp, dst)
	} else {
		err = renameNoReplace(st.tmp, dst)
	}
	if err != nil {
		return Copied{}, fmt.Errorf("install %s: %w", dst, err)
	}
	done = true
	if err := cardstate.FsyncDir(dstDir); err != nil {
		return Copied{}, err
	}
	return Copied{Hash: st.hash, Size: st.size, Mtime: st.srcMtime}, nil
}

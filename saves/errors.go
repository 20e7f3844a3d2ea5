package saves

import "errors"

// Errors callers act on with errors.Is.
var (
	// ErrNoLocations: the save catalog knows no save folder of the layout.
	ErrNoLocations = errors.New("no save locations known for this layout")
	// ErrBackupFull: the backup disk has no room; the card is untouched.
	ErrBackupFull = errors.New("backup disk full")
	// ErrChanging: a save kept changing while it was read (a console
	// playing over USB); it is backed up on a later run.
	ErrChanging = errors.New("save changed while it was read")
	// ErrNoCard: the card (its marker) is not there.
	ErrNoCard = errors.New("card not present")
	// ErrNotFound: no backed-up version matches.
	ErrNotFound = errors.New("no such backed-up save")
)

package layout

import "errors"

// Errors returned by the package; wrapped with %w, so test with errors.Is.
var (
	// ErrNoMigration means a phase step was asked of settings that record no
	// migration.
	ErrNoMigration = errors.New("layout: no migration in progress")
	// ErrBadTransition means a migration was asked to go to a phase that does
	// not follow its own (see MigrationPhase.Next).
	ErrBadTransition = errors.New("layout: illegal phase transition")
)

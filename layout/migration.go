package layout

import (
	"fmt"
	"slices"
)

// MigrationKind says what a migration does to the layout.
type MigrationKind string

// Migration kinds.
const (
	MigrationAdd    MigrationKind = "add"
	MigrationRemove MigrationKind = "remove"
)

// MigrationPhase is how far a migration went. Producers route by it
// (Settings.Route).
type MigrationPhase string

// Migration phases, in order. PhaseDone is never stored: a migration that
// reaches it is cleared from the settings.
const (
	// PhaseCopying: the layout is still From; writes go to the preference
	// lists of both From and To, reads to From then To. The rebalancer copies
	// and verifies the partitions that change.
	PhaseCopying MigrationPhase = "copying"
	// PhaseSwitched: Members is To and Epoch was incremented; writes still go
	// to both layouts, reads to To then From.
	PhaseSwitched MigrationPhase = "switched"
	// PhaseCleaning: writes go to To only, reads to To then From; the
	// rebalancer deletes at the sources what they no longer hold.
	PhaseCleaning MigrationPhase = "cleaning"
	// PhaseDone: the migration is over and no longer recorded.
	PhaseDone MigrationPhase = "done"
)

// Next returns the phase that follows p: copying -> switched -> cleaning ->
// done. Any other phase has none (ErrBadTransition).
func (p MigrationPhase) Next() (MigrationPhase, error) {
	switch p {
	case PhaseCopying:
		return PhaseSwitched, nil
	case PhaseSwitched:
		return PhaseCleaning, nil
	case PhaseCleaning:
		return PhaseDone, nil
	}
	return "", fmt.Errorf("%w: no phase follows %q", ErrBadTransition, p)
}

// Migration is a rebalance in progress, stored in Settings. It changes only by
// check-and-set, together with the layout it describes.
type Migration struct {
	// ID names the migration (e.g. "add-node-4-epoch-3").
	ID string `json:"id"`
	// Kind is add or remove; Node the node added or removed.
	Kind MigrationKind `json:"kind"`
	Node string        `json:"node"`
	// From and To are the layouts (sorted node names) before and after.
	From []string `json:"from"`
	To   []string `json:"to"`
	// Phase is the step reached.
	Phase MigrationPhase `json:"phase"`
}

func (m Migration) equal(o Migration) bool {
	return m.ID == o.ID && m.Kind == o.Kind && m.Node == o.Node && m.Phase == o.Phase &&
		slices.Equal(m.From, o.From) && slices.Equal(m.To, o.To)
}

// Advance moves the migration of s to phase to, which must be the one that
// follows its phase, and changes the layout with it: reaching switched
// increments Epoch and makes To the Members; reaching done clears the
// migration. It fails with ErrNoMigration or ErrBadTransition, leaving s
// as it was.
func (s *Settings) Advance(to MigrationPhase) error {
	m := s.Migration
	if m == nil {
		return ErrNoMigration
	}
	next, err := m.Phase.Next()
	if err != nil {
		return err
	}
	if next != to {
		return fmt.Errorf("%w: %s to %s (%s follows %s)", ErrBadTransition, m.Phase, to, next, m.Phase)
	}
	switch to {
	case PhaseSwitched:
		s.Epoch++
		s.Members = slices.Clone(m.To)
	case PhaseDone:
		s.Migration = nil
		return nil
	}
	c := *m // s.Migration may be shared with other copies of s
	c.Phase = to
	s.Migration = &c
	return nil
}

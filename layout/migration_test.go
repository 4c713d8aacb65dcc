package layout_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/zshard/zshard/layout"
)

// TestPhaseNext checks the legal transitions: copying -> switched ->
// cleaning -> done, and none from anything else.
func TestPhaseNext(t *testing.T) {
	for _, tc := range []struct {
		from, next layout.MigrationPhase
		ok         bool
	}{
		{layout.PhaseCopying, layout.PhaseSwitched, true},
		{layout.PhaseSwitched, layout.PhaseCleaning, true},
		{layout.PhaseCleaning, layout.PhaseDone, true},
		{layout.PhaseDone, "", false},
		{"", "", false},
		{"resting", "", false},
	} {
		t.Run(string(tc.from), func(t *testing.T) {
			next, err := tc.from.Next()
			if tc.ok != (err == nil) || next != tc.next {
				t.Fatalf("Next() = %q, %v; want %q, ok %v", next, err, tc.next, tc.ok)
			}
			if err != nil && !errors.Is(err, layout.ErrBadTransition) {
				t.Fatalf("error %v is not ErrBadTransition", err)
			}
		})
	}
}

// TestAdvance checks what every step does to the settings, and that an
// illegal step changes nothing.
func TestAdvance(t *testing.T) {
	s := migrating(layout.PhaseCopying)
	s.Epoch = 7
	before := s.Clone()

	for _, to := range []layout.MigrationPhase{layout.PhaseCopying, layout.PhaseCleaning, layout.PhaseDone, "other"} {
		c := s.Clone()
		if err := c.Advance(to); !errors.Is(err, layout.ErrBadTransition) {
			t.Fatalf("copying -> %s: %v, want ErrBadTransition", to, err)
		}
		if !c.Equal(before) {
			t.Fatalf("copying -> %s changed the settings: %+v", to, c)
		}
	}

	if err := s.Advance(layout.PhaseSwitched); err != nil {
		t.Fatal(err)
	}
	if s.Epoch != 8 || !slices.Equal(s.Members, abcd) || s.Migration.Phase != layout.PhaseSwitched {
		t.Fatalf("after switched: %+v %+v", s, s.Migration)
	}
	if before.Migration.Phase != layout.PhaseCopying {
		t.Fatal("Advance changed a migration shared with another copy")
	}
	s.Members[0] = "x"
	if s.Migration.To[0] != "a" {
		t.Fatal("Members shares To")
	}
	s.Members[0] = "a"

	if err := s.Advance(layout.PhaseCleaning); err != nil {
		t.Fatal(err)
	}
	if s.Epoch != 8 || s.Migration.Phase != layout.PhaseCleaning {
		t.Fatalf("after cleaning: %+v %+v", s, s.Migration)
	}
	if err := s.Advance(layout.PhaseDone); err != nil {
		t.Fatal(err)
	}
	if s.Migration != nil || s.Epoch != 8 || !slices.Equal(s.Members, abcd) {
		t.Fatalf("after done: %+v", s)
	}
	if err := s.Advance(layout.PhaseSwitched); !errors.Is(err, layout.ErrNoMigration) {
		t.Fatalf("no migration: %v", err)
	}
}

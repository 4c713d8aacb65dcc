package layout_test

import (
	"testing"

	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// TestCloneEqual: Clone copies deeply and Equal sees every field.
func TestCloneEqual(t *testing.T) {
	s := migrating(layout.PhaseSwitched)
	c := s.Clone()
	if !c.Equal(s) {
		t.Fatal("a clone differs")
	}
	c.Migration.To[0] = "x"
	c.Members[1] = "y"
	if s.Migration.To[0] != "a" || s.Members[1] != "b" {
		t.Fatal("Clone shares Members or Migration")
	}
	for name, change := range map[string]func(*layout.Settings){
		"algorithm":  func(s *layout.Settings) { s.Algorithm = sharding.Consistent },
		"partitions": func(s *layout.Settings) { s.Partitions++ },
		"replicas":   func(s *layout.Settings) { s.Replicas++ },
		"vnodes":     func(s *layout.Settings) { s.VNodes++ },
		"epoch":      func(s *layout.Settings) { s.Epoch++ },
		"members":    func(s *layout.Settings) { s.Members = s.Members[1:] },
		"migration":  func(s *layout.Settings) { s.Migration = nil },
		"phase":      func(s *layout.Settings) { s.Migration.Phase = layout.PhaseCleaning },
		"from":       func(s *layout.Settings) { s.Migration.From = s.Migration.From[1:] },
		"to":         func(s *layout.Settings) { s.Migration.To = s.Migration.To[1:] },
		"id":         func(s *layout.Settings) { s.Migration.ID = "other" },
		"kind":       func(s *layout.Settings) { s.Migration.Kind = layout.MigrationRemove },
		"node":       func(s *layout.Settings) { s.Migration.Node = "other" },
	} {
		t.Run(name, func(t *testing.T) {
			c := s.Clone()
			change(&c)
			if c.Equal(s) || s.Equal(c) {
				t.Fatalf("a change of %s is not seen", name)
			}
		})
	}
}

// TestConfig: the sharding configuration carries every placement field.
func TestConfig(t *testing.T) {
	s := layout.Settings{Algorithm: sharding.Consistent, Partitions: 128, Replicas: 2, VNodes: 64, Epoch: 3, Members: abc}
	want := sharding.Config{Algorithm: sharding.Consistent, Partitions: 128, Replicas: 2, VNodes: 64}
	if got := s.Config(); got != want {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	tb, err := s.Table(abc)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Partitions() != 128 || tb.Width() != 3 || tb.Algorithm() != sharding.Consistent {
		t.Fatalf("table %d partitions, width %d, %s", tb.Partitions(), tb.Width(), tb.Algorithm())
	}
	if _, err := s.Table(nil); err == nil {
		t.Fatal("a table of no node")
	}
}

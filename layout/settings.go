package layout

import (
	"fmt"
	"slices"

	"github.com/zshard/zshard/sharding"
)

// Settings are the cluster-wide parameters every producer must agree on to
// place keys identically. They are stored as one JSON document, so a change
// to several fields is one atomic check-and-set; the JSON field names are
// the stored format and never change.
type Settings struct {
	// Algorithm is the placement algorithm's name, e.g. "consistent", "hrw".
	Algorithm string `json:"algorithm"`
	// Partitions is the number of fixed partitions keys hash into.
	Partitions int `json:"partitions"`
	// Replicas is the replication factor R: extra copies beyond the owner.
	Replicas int `json:"replicas"`
	// VNodes is the virtual-node count for ring algorithms; 0 = its default.
	VNodes int `json:"vnodes,omitempty"`
	// Epoch is the layout version; every membership change a rebalancer
	// completes increments it.
	Epoch uint64 `json:"epoch"`
	// Members is the explicit layout: the node names the partition table is
	// built from at this Epoch, whether or not they pass their health checks.
	// Empty (the default, "legacy" mode) means the passing members, as
	// before rebalancing existed. The first add-node or remove-node sets it.
	Members []string `json:"members,omitempty"`
	// Migration is the rebalance in progress, nil when none is. It is the
	// rebalancer's journal: a rebalancer that died is resumed from it.
	Migration *Migration `json:"migration,omitempty"`
}

// Config is the sharding configuration the settings place keys with.
func (s Settings) Config() sharding.Config {
	return sharding.Config{Algorithm: s.Algorithm, VNodes: s.VNodes, Partitions: s.Partitions, Replicas: s.Replicas}
}

// Table builds the placement table of the node list names under s.
func (s Settings) Table(names []string) (*sharding.Table, error) {
	t, err := sharding.NewTable(s.Config(), sharding.NodesNamed(names...))
	if err != nil {
		return nil, fmt.Errorf("placement over %v: %w", names, err)
	}
	return t, nil
}

// Clone returns a deep copy of s (Members and Migration are not shared).
func (s Settings) Clone() Settings {
	s.Members = slices.Clone(s.Members)
	if s.Migration != nil {
		m := *s.Migration
		m.From, m.To = slices.Clone(m.From), slices.Clone(m.To)
		s.Migration = &m
	}
	return s
}

// Equal reports whether s and o are the same settings.
func (s Settings) Equal(o Settings) bool {
	if s.Algorithm != o.Algorithm || s.Partitions != o.Partitions || s.Replicas != o.Replicas ||
		s.VNodes != o.VNodes || s.Epoch != o.Epoch || !slices.Equal(s.Members, o.Members) {
		return false
	}
	if (s.Migration == nil) != (o.Migration == nil) {
		return false
	}
	return s.Migration == nil || s.Migration.equal(*o.Migration)
}

// Legacy reports whether s records no layout: keys are placed on the
// passing members.
func (s Settings) Legacy() bool { return len(s.Members) == 0 }

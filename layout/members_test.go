package layout

import (
	"slices"
	"testing"
)

func TestInitial(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		up, registered, removed []string
		want                    []string
	}{
		{"nothing", nil, nil, nil, []string{}},
		{"signals only: nodes not started yet count", []string{"node-1", "node-0"}, nil, nil, []string{"node-0", "node-1"}},
		{"registered only: nodes started by hand", nil, []string{"b", "a"}, nil, []string{"a", "b"}},
		{"union without duplicates", []string{"node-0", "node-1"}, []string{"node-1", "node-2"}, nil, []string{"node-0", "node-1", "node-2"}},
		{"removed nodes are left out", []string{"node-0"}, []string{"node-0", "node-3"}, []string{"node-3"}, []string{"node-0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Initial(tc.up, tc.registered, tc.removed); !slices.Equal(got, tc.want) {
				t.Fatalf("Initial = %v, want %v", got, tc.want)
			}
		})
	}
}

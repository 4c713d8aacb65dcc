package rebalance

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/layout"
)

func TestTarget(t *testing.T) {
	four := []string{"node-0", "node-1", "node-2", "node-3"}
	for _, tc := range []struct {
		name string
		kind layout.MigrationKind
		node string
		want []string
		err  error
	}{
		{"add", layout.MigrationAdd, "node-4", []string{"node-0", "node-1", "node-2", "node-3", "node-4"}, nil},
		{"add sorts", layout.MigrationAdd, "a", []string{"a", "node-0", "node-1", "node-2", "node-3"}, nil},
		{"add member", layout.MigrationAdd, "node-1", nil, ErrBadRequest},
		{"remove", layout.MigrationRemove, "node-0", []string{"node-1", "node-2", "node-3"}, nil},
		{"remove non-member", layout.MigrationRemove, "node-9", nil, errNothingToDo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := target(tc.kind, tc.node, four)
			if tc.err != nil {
				require.True(t, errors.Is(err, tc.err), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Len(t, four, 4, "the input is not modified")
		})
	}
	_, err := target(layout.MigrationRemove, "x", []string{"x"})
	require.ErrorIs(t, err, ErrBadRequest)
}

func TestResumeCommand(t *testing.T) {
	require.Equal(t, "client_producer add-node node-4", ResumeCommand(&layout.Migration{Kind: layout.MigrationAdd, Node: "node-4"}))
	require.Equal(t, "client_producer remove-node node-0", ResumeCommand(&layout.Migration{Kind: layout.MigrationRemove, Node: "node-0"}))
}

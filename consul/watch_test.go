package consul

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/testcluster"
)

// fakeStep is one scripted answer of a fake blocking endpoint.
type fakeStep struct {
	value int
	index uint64
	err   error
}

// fakeFetch answers from a script and records the wait index of each call.
type fakeFetch struct {
	mu     sync.Mutex
	steps  []fakeStep
	waited []uint64
	done   func()
}

func (f *fakeFetch) fetch(q *api.QueryOptions) (int, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waited = append(f.waited, q.WaitIndex)
	if len(f.steps) == 0 {
		f.done()
		<-q.Context().Done()
		return 0, 0, q.Context().Err()
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	return s.value, s.index, s.err
}

var fastWatch = watchOptions{wait: time.Second, minGap: time.Millisecond, backoffMin: time.Millisecond, backoffMax: 4 * time.Millisecond}

func runFake(t *testing.T, steps []fakeStep) (delivered []int, waited []uint64, errs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := &fakeFetch{steps: steps, done: cancel}
	err := watch(ctx, fastWatch, f.fetch,
		func(v int) { delivered = append(delivered, v) },
		func(error, time.Duration) { errs++ })
	require.NoError(t, err)
	return delivered, f.waited, errs
}

func TestWatchFollowsBlockingQueryRules(t *testing.T) {
	boom := errors.New("agent down")
	tests := []struct {
		name      string
		steps     []fakeStep
		delivered []int
		waited    []uint64 // wait index sent with each call
		errs      int
	}{
		{
			name:      "delivers first result and each index change",
			steps:     []fakeStep{{1, 10, nil}, {2, 11, nil}, {3, 15, nil}},
			delivered: []int{1, 2, 3},
			waited:    []uint64{0, 10, 11, 15},
		},
		{
			name:      "same index after a timed-out wait is not a change",
			steps:     []fakeStep{{1, 10, nil}, {1, 10, nil}, {2, 12, nil}},
			delivered: []int{1, 2},
			waited:    []uint64{0, 10, 10, 12},
		},
		{
			name:      "index going backwards resets to a full read",
			steps:     []fakeStep{{1, 50, nil}, {9, 3, nil}, {2, 4, nil}},
			delivered: []int{1, 2},
			waited:    []uint64{0, 50, 0, 4},
		},
		{
			name:      "index zero is never used to block",
			steps:     []fakeStep{{1, 0, nil}, {2, 7, nil}},
			delivered: []int{1, 2},
			waited:    []uint64{0, 1, 7},
		},
		{
			name:      "errors back off, then read in full",
			steps:     []fakeStep{{1, 10, nil}, {0, 0, boom}, {0, 0, boom}, {2, 11, nil}},
			delivered: []int{1, 2},
			waited:    []uint64{0, 10, 0, 0, 11},
			errs:      2,
		},
		{
			// A blocking query on the old index would wait its whole wait
			// time before the lower index of the restarted agent showed.
			name:      "an agent that restarted with a lower index is read at once",
			steps:     []fakeStep{{1, 50, nil}, {0, 0, boom}, {2, 3, nil}},
			delivered: []int{1, 2},
			waited:    []uint64{0, 50, 0, 3},
			errs:      1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delivered, waited, errs := runFake(t, tt.steps)
			require.Equal(t, tt.delivered, delivered)
			require.Equal(t, tt.waited, waited)
			require.Equal(t, tt.errs, errs)
		})
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watch(ctx, fastWatch, func(q *api.QueryOptions) (int, uint64, error) {
			<-q.Context().Done()
			return 0, 0, q.Context().Err()
		}, func(int) {}, nil)
	}()
	cancel()
	require.NoError(t, testcluster.Receive(t, done, 10*time.Second, "watch did not return after its context was cancelled"))
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in    string
		state NodeState
		host  string
		bad   bool
	}{
		{in: `{"state":"up"}`, state: NodeUp},
		{in: `{"state":"up","host":"h1"}`, state: NodeUp, host: "h1"},
		{in: `{"state":"removed"}`, state: NodeRemoved},
		{in: `{"state":"add"}`, state: NodeUp},
		{in: `{"state":"remove"}`, state: NodeRemoved},
		{in: "add", state: NodeUp},
		{in: " UP\n", state: NodeUp},
		{in: "remove", state: NodeRemoved},
		{in: `{"state":"sideways"}`, bad: true},
		{in: `{}`, bad: true},
		{in: "maybe", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := ParseSignal("node-4", []byte(tt.in))
			if tt.bad {
				require.Error(t, err)
				require.Contains(t, err.Error(), "node-4")
				return
			}
			require.NoError(t, err)
			require.Equal(t, Signal{Name: "node-4", State: tt.state, Host: tt.host}, s)
		})
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"node-0", "node_12", "a", "db.eu-1"} {
		require.NoError(t, ValidName(ok), ok)
	}
	for _, bad := range []string{"", "a/b", "node 1", "..", ".", "ü", string(make([]byte, 65))} {
		require.Error(t, ValidName(bad), "%q", bad)
	}
}

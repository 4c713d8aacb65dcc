package noderun_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
)

// runNode runs noderun.Run in this process until the returned stop
// is called (or the test ends); stop waits for it to return.
func runNode(t testing.TB, cfg noderun.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- noderun.Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(stop)
	return stop
}

// passing returns the passing members of cc's service.
func passing(t testing.TB, cc *consul.Client) []consul.Member {
	t.Helper()
	ms, err := cc.Members(context.Background())
	require.NoError(t, err)
	return ms
}

// member returns the passing member name, ok false when it is not passing.
func member(t testing.TB, cc *consul.Client, name string) (consul.Member, bool) {
	t.Helper()
	for _, m := range passing(t, cc) {
		if m.Name == name {
			return m, true
		}
	}
	return consul.Member{}, false
}

func openDurable(t testing.TB, dir string) *durable.Store {
	t.Helper()
	st, err := durable.Open(dir, durable.Options{})
	require.NoError(t, err)
	return st
}

func jsonValue(s string) store.Value {
	b, _ := json.Marshal(s)
	return store.Value{Codec: uint8(protocol.JSON), Data: b}
}

// eventually fails the test if cond does not hold within 30s; the bound
// only keeps a broken test from hanging.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 100*time.Millisecond, "timed out waiting until %s", what)
}

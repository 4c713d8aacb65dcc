package consul_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

func TestRegisterMembersDeregister(t *testing.T) {
	ctx := context.Background()
	c, agent := newClient(t)

	r0 := mustRegister(t, c, reg("node-0", 2000))
	mustRegister(t, c, reg("node-1", 2001))

	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	require.Equal(t, consul.Member{
		Name: "node-0", RepURL: "tcp://127.0.0.1:2000", PullURL: "tcp://127.0.0.1:2100",
		Address: "127.0.0.1", Port: 2000, Agent: ms[0].Agent, Ready: true,
	}, ms[0])
	require.Equal(t, "node-1", ms[1].Name)

	// The raw catalog, as the Consul CLI sees it, carries the contract Meta.
	svcs, _, err := agent.Client.Catalog().Service("zshard", "", nil)
	require.NoError(t, err)
	require.Len(t, svcs, 2)
	require.Equal(t, "tcp://127.0.0.1:2000", svcs[0].ServiceMeta["rep"])
	require.Equal(t, "tcp://127.0.0.1:2100", svcs[0].ServiceMeta["pull"])

	require.NoError(t, r0.Deregister(ctx))
	require.Equal(t, []string{"node-1"}, memberNames(t, c))
}

func TestRegisterRefusesALiveName(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)
	mustRegister(t, c, reg("node-0", 2000))

	_, err := c.Register(ctx, reg("node-0", 2500))
	require.ErrorIs(t, err, consul.ErrNameTaken)
	require.Contains(t, err.Error(), "tcp://127.0.0.1:2000")

	// The same endpoint on the same agent is a restart of the same node (it
	// could bind the port, so the old process is gone): allowed.
	mustRegister(t, c, reg("node-0", 2000))
}

func TestHealthFollowsHeartbeats(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)
	r := reg("node-0", 2000)
	r.TTL = 3 * time.Second // long enough that a check just beaten is still passing when read back
	rr := mustRegister(t, c, r)
	require.Equal(t, []string{"node-0"}, memberNames(t, c))

	// No heartbeat: the TTL check expires and the node leaves the members.
	eventually(t, "the silent node turns critical", func() bool { return len(memberNames(t, c)) == 0 })

	rr.Beat(ctx, nil)
	require.Equal(t, []string{"node-0"}, memberNames(t, c))

	rr.Beat(ctx, errors.New("request loop stuck"))
	require.Empty(t, memberNames(t, c))

	// Run keeps it passing while healthy says so.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go rr.Run(runCtx, func() error { return nil })
	eventually(t, "Run's heartbeats make it pass", func() bool { return len(memberNames(t, c)) == 1 })
}

func TestHeartbeatReRegistersAfterAgentForgets(t *testing.T) {
	ctx := context.Background()
	c, agent := newClient(t)
	rr := mustRegister(t, c, reg("node-3", 2003))

	// What an agent restart does to a dev agent: the service is gone.
	require.NoError(t, agent.Client.Agent().ServiceDeregister("node-3"))
	require.Empty(t, memberNames(t, c))

	rr.Beat(ctx, nil)
	require.Equal(t, []string{"node-3"}, memberNames(t, c))
}

func TestWatchMembersIsPushed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := newClient(t)

	updates := make(chan []consul.Member, 16)
	done := make(chan error, 1)
	go func() { done <- c.WatchMembers(ctx, func(ms []consul.Member) { updates <- ms }) }()

	require.Empty(t, <-updates, "first delivery is the current (empty) membership")
	mustRegister(t, c, reg("node-0", 2000))
	ms := testcluster.Receive(t, updates, 20*time.Second, "no push after a registration")
	require.Len(t, ms, 1)
	require.Equal(t, "node-0", ms[0].Name)

	cancel()
	require.NoError(t, testcluster.Receive(t, done, 10*time.Second, "WatchMembers ignored cancellation"))
}

func TestSettingsChangeByCASOnly(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)

	_, _, err := c.Settings(ctx)
	require.ErrorIs(t, err, consul.ErrNotFound)
	_, err = c.UpdateSettings(ctx, func(*layout.Settings) error { return nil })
	require.ErrorIs(t, err, consul.ErrNotFound)

	want := layout.Settings{Algorithm: "consistent", Partitions: 4096, Replicas: 0}
	got, created, err := c.InitSettings(ctx, want)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, want, got)

	// A second initialiser does not override the first.
	got, created, err = c.InitSettings(ctx, layout.Settings{Algorithm: "hrw", Partitions: 8})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, want, got)

	// Concurrent read-modify-write increments: CAS loses none.
	const workers, each = 6, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := c.UpdateSettings(ctx, func(s *layout.Settings) error { s.Epoch++; return nil })
				if errors.Is(err, consul.ErrConflict) {
					continue // counted below: the epoch would fall short
				}
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got, _, err = c.Settings(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(workers*each), got.Epoch)

	// An error from the update function writes nothing.
	veto := errors.New("veto")
	_, err = c.UpdateSettings(ctx, func(s *layout.Settings) error { s.Algorithm = "x"; return veto })
	require.ErrorIs(t, err, veto)
	got, _, err = c.Settings(ctx)
	require.NoError(t, err)
	require.Equal(t, "consistent", got.Algorithm)
}

func TestSignals(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, agent := newClient(t)

	pushes := make(chan []consul.Signal, 16)
	go func() { _ = c.WatchSignals(ctx, func(s []consul.Signal) { pushes <- s }) }()
	require.Empty(t, <-pushes)

	require.NoError(t, c.SignalAdd(ctx, "node-4", "h1"))
	s := <-pushes
	require.Len(t, s, 1)
	require.Equal(t, consul.Signal{Name: "node-4", State: consul.NodeUp, Host: "h1", ModifyIndex: s[0].ModifyIndex}, s[0])

	require.NoError(t, c.SignalRemove(ctx, "node-4"))
	require.Equal(t, consul.NodeRemoved, (<-pushes)[0].State)

	// EnsureSignal never overrides an existing signal.
	wrote, err := c.EnsureSignal(ctx, consul.Signal{Name: "node-4", State: consul.NodeUp})
	require.NoError(t, err)
	require.False(t, wrote)
	sigs, err := c.Signals(ctx)
	require.NoError(t, err)
	require.Equal(t, consul.NodeRemoved, sigs[0].State)

	// A lab user can write a bare word with the Consul CLI.
	_, err = agent.Client.KV().Put(&api.KVPair{Key: "zshard/nodes/node-5", Value: []byte("add")}, nil)
	require.NoError(t, err)
	sigs, err = c.Signals(ctx)
	require.NoError(t, err)
	require.Len(t, sigs, 2)
	require.Equal(t, consul.NodeUp, sigs[1].State)

	require.Error(t, c.SignalAdd(ctx, "bad/name", ""))

	// EnsureSignals writes the missing ones, in one transaction, and
	// leaves the removed node-4 and the hand-written node-5 alone.
	var want []consul.Signal
	for _, n := range []string{"node-3", "node-4", "node-5", "node-6"} {
		want = append(want, consul.Signal{Name: n, State: consul.NodeUp})
	}
	names, err := c.EnsureSignals(ctx, want)
	require.NoError(t, err)
	require.Equal(t, []string{"node-3", "node-6"}, names)
	sigs, err = c.Signals(ctx)
	require.NoError(t, err)
	states := map[string]consul.NodeState{}
	for _, s := range sigs {
		states[s.Name] = s.State
	}
	require.Equal(t, map[string]consul.NodeState{"node-3": consul.NodeUp, "node-4": consul.NodeRemoved,
		"node-5": consul.NodeUp, "node-6": consul.NodeUp}, states)
	names, err = c.EnsureSignals(ctx, want)
	require.NoError(t, err)
	require.Empty(t, names)
	_, err = c.EnsureSignals(ctx, []consul.Signal{{Name: "bad/name", State: consul.NodeUp}})
	require.Error(t, err)
}

func TestClaimsAreExclusive(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)

	a, err := c.NewSession(ctx, "supervisor-a", 0)
	require.NoError(t, err)
	b, err := c.NewSession(ctx, "supervisor-b", 0)
	require.NoError(t, err)
	defer b.Close(ctx)

	ok, err := a.Claim(ctx, "node-1", "host-a")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = a.Claim(ctx, "node-1", "host-a")
	require.NoError(t, err)
	require.True(t, ok, "re-claiming a held node must succeed")
	ok, err = b.Claim(ctx, "node-1", "host-b")
	require.NoError(t, err)
	require.False(t, ok, "two sessions hold the same node")

	claims, err := c.Claims(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"node-1": "host-a"}, claims)

	// The holder goes away: after the lock delay the other may claim it.
	require.NoError(t, a.Close(ctx))
	require.NoError(t, a.Close(ctx), "Close twice")
	<-a.Lost()
	eventually(t, "b takes over node-1", func() bool {
		ok, err := b.Claim(ctx, "node-1", "host-b")
		require.NoError(t, err)
		return ok
	})
}

func TestUnreachableAgentSaysWhatToDo(t *testing.T) {
	ports, err := testcluster.FreePorts(1)
	require.NoError(t, err)
	c, err := consul.New(consul.Config{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0])})
	require.NoError(t, err)

	err = c.Ping(context.Background())
	require.ErrorIs(t, err, consul.ErrUnreachable)
	require.Contains(t, err.Error(), fmt.Sprintf("127.0.0.1:%d", ports[0]))
	require.Contains(t, err.Error(), "make consul")

	_, err = c.Members(context.Background())
	require.ErrorIs(t, err, consul.ErrUnreachable)
}

func TestHeartbeatFollowsAnAddressChange(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)
	addr := "10.0.0.1"
	rr := registerMovable(t, c, &addr)

	addr = "10.0.0.2" // the container got a new address
	rr.Beat(ctx, nil)
	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, "tcp://10.0.0.2:2000", ms[0].RepURL)
	require.Equal(t, "tcp://10.0.0.2:2100", ms[0].PullURL)
	require.Equal(t, "10.0.0.2", ms[0].Address)
}

// TestHeartbeatRetriesAFailedMove: when the re-registration with a new
// address fails (the container's network is not back yet), the next beat
// registers the new address instead of reporting the old one passing.
func TestHeartbeatRetriesAFailedMove(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t)
	addr := "10.0.0.1"
	rr := registerMovable(t, c, &addr)

	addr = "10.0.0.2"
	failed, cancel := context.WithCancel(ctx)
	cancel() // the agent cannot be reached for this beat
	rr.Beat(failed, nil)
	rr.Beat(ctx, nil)
	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, "tcp://10.0.0.2:2000", ms[0].RepURL, "passing at the address the node left")
	require.Equal(t, "10.0.0.2", ms[0].Address)
}

func TestRegisterRefusesAnIDOfAnotherService(t *testing.T) {
	ctx := context.Background()
	c, agent := newClient(t)
	mustRegister(t, c, reg("node-0", 2000))

	// A second cluster (another service name) in the same agent must not
	// take over node-0: Consul keys services by ID, not by service and ID.
	other, err := consul.New(consul.Config{Addr: agent.Addr, Service: "zshard-other"})
	require.NoError(t, err)
	_, err = other.Register(ctx, reg("node-0", 2600))
	require.ErrorIs(t, err, consul.ErrNameTaken)
	require.Contains(t, err.Error(), `service "zshard"`)
	require.Equal(t, []string{"node-0"}, memberNames(t, c), "the first cluster lost its node")
}

// TestCatchingUpThenReady: a node registered as catching up passes (writes
// reach it) with Meta ready=false, and SetReady flips it to ready.
func TestCatchingUpThenReady(t *testing.T) {
	ctx := context.Background()
	c, agent := newClient(t)
	rg := reg("node-0", 2000)
	rg.CatchingUp = true
	r := mustRegister(t, c, rg)
	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.False(t, ms[0].Ready)
	svc, _, err := agent.Client.Agent().Service("node-0", nil)
	require.NoError(t, err)
	require.Equal(t, "false", svc.Meta[consul.MetaReady])

	require.NoError(t, r.SetReady(ctx))
	ms, err = c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.True(t, ms[0].Ready)
	// A heartbeat after SetReady keeps it passing and ready.
	r.Beat(ctx, nil)
	ms, err = c.Members(ctx)
	require.NoError(t, err)
	require.True(t, ms[0].Ready)
}

// TestSettingsKeepLayoutAndMigration: Members and Migration survive a
// check-and-set round trip, and settings without them read as before.
func TestSettingsKeepLayoutAndMigration(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	_, _, err := c.InitSettings(ctx, layout.Settings{Algorithm: "hrw", Partitions: 64})
	require.NoError(t, err)
	s, _, err := c.Settings(ctx)
	require.NoError(t, err)
	require.Empty(t, s.Members)
	require.Nil(t, s.Migration)

	m := &layout.Migration{ID: "add-n2-epoch-0", Kind: layout.MigrationAdd, Node: "n2",
		From: []string{"n0", "n1"}, To: []string{"n0", "n1", "n2"}, Phase: layout.PhaseCopying}
	want, err := c.UpdateSettings(ctx, func(s *layout.Settings) error {
		s.Members = []string{"n0", "n1"}
		s.Migration = m
		return nil
	})
	require.NoError(t, err)
	got, _, err := c.Settings(ctx)
	require.NoError(t, err)
	require.True(t, want.Equal(got), "%+v != %+v", want, got)
	require.False(t, got.Equal(layout.Settings{Algorithm: "hrw", Partitions: 64}))
	cl := got.Clone()
	cl.Migration.To[0] = "x"
	require.Equal(t, "n0", got.Migration.To[0], "Clone copies deeply")
}

// TestMetaMetricsFollowsTheRequestEndpoint: with MetricsPort, Meta
// "metrics" is the metrics URL on the request endpoint's host, and moves
// with it; without, there is no Meta "metrics".
func TestMetaMetricsFollowsTheRequestEndpoint(t *testing.T) {
	ctx := context.Background()
	c, agent := newClient(t)
	addr := "10.0.0.1"
	r := reg("node-0", 2000)
	r.RepURL, r.PullURL, r.MetricsPort = "tcp://"+addr+":2000", "tcp://"+addr+":2100", 2200
	r.Refresh = func() (string, string, error) {
		return "tcp://" + addr + ":2000", "tcp://" + addr + ":2100", nil
	}
	rr := mustRegister(t, c, r)
	mustRegister(t, c, reg("node-1", 2001))
	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.1:2200/metrics", ms[0].MetricsURL)
	require.Empty(t, ms[1].MetricsURL)
	svcs, _, err := agent.Client.Catalog().Service("zshard", "", nil)
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.1:2200/metrics", svcs[0].ServiceMeta[consul.MetaMetrics])
	require.NotContains(t, svcs[1].ServiceMeta, consul.MetaMetrics)

	addr = "10.0.0.2"
	rr.Beat(ctx, nil)
	ms, err = c.Members(ctx)
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.2:2200/metrics", ms[0].MetricsURL)
}

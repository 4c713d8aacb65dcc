package consul_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/testcluster"
)

func newClient(t *testing.T) (*consul.Client, *testcluster.Consul) {
	t.Helper()
	agent := testcluster.StartConsul(t)
	c, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	require.NoError(t, c.Ping(context.Background()))
	return c, agent
}

func reg(name string, port int) consul.Registration {
	return consul.Registration{
		Name:    name,
		RepURL:  fmt.Sprintf("tcp://127.0.0.1:%d", port),
		PullURL: fmt.Sprintf("tcp://127.0.0.1:%d", port+100),
	}
}

// eventually polls cond every 50ms for up to 20s; Consul state changes
// (check expiry, re-registration) take a few seconds on a loaded machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testcluster.Eventually(t, what, 20*time.Second, 50*time.Millisecond, cond)
}

func memberNames(t *testing.T, c *consul.Client) []string {
	t.Helper()
	ms, err := c.Members(context.Background())
	require.NoError(t, err)
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return names
}

// registerMovable registers node-0 with request port 2000 and ingest port
// 2100 at the address *addr, and refreshes its endpoints from *addr at each
// beat, as a node in a container that may get a new address.
func registerMovable(t *testing.T, c *consul.Client, addr *string) *consul.Registrar {
	t.Helper()
	r := reg("node-0", 2000)
	r.RepURL, r.PullURL = "tcp://"+*addr+":2000", "tcp://"+*addr+":2100"
	r.Refresh = func() (string, string, error) {
		return "tcp://" + *addr + ":2000", "tcp://" + *addr + ":2100", nil
	}
	return mustRegister(t, c, r)
}

// mustRegister registers r with c and fails the test if it cannot.
func mustRegister(t *testing.T, c *consul.Client, r consul.Registration) *consul.Registrar {
	t.Helper()
	rr, err := c.Register(context.Background(), r)
	require.NoError(t, err)
	return rr
}

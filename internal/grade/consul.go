package grade

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/zshard/zshard/consul"
)

// Consul check names.
const (
	CheckRegister   = "register in Consul"
	CheckAddSignal  = "add signal launches a node"
	CheckRemove     = "remove signal stops a node"
	CheckDeregister = "deregister on SIGTERM"
)

// instance is one registered instance of the service, with the endpoints
// the grader talks to.
type instance struct {
	name      string
	passing   bool
	rep, pull string
}

// instances reads every registered instance of the service.
func (g *grader) instances(ctx context.Context) ([]instance, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	entries, _, err := g.agent.api.Health().Service(g.cfg.Service, "", false, q)
	if err != nil {
		return nil, err
	}
	var out []instance
	for _, e := range entries {
		s := e.Service
		in := instance{name: s.ID, passing: e.Checks.AggregatedStatus() == api.HealthPassing}
		in.rep, in.pull = s.Meta[consul.MetaRep], s.Meta[consul.MetaPull]
		i, static := nodeIndex(s.ID)
		if in.rep == "" && s.Port != 0 {
			in.rep = "tcp://" + net.JoinHostPort(cmpOr(s.Address, g.cfg.Host), strconv.Itoa(s.Port))
		}
		if in.rep == "" && static {
			in.rep = g.staticRep(i)
		}
		if in.pull == "" && static {
			in.pull = g.staticPull(i)
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b instance) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// nodeIndex returns i for a name node-i.
func nodeIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "node-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

func names(ins []instance) []string {
	var out []string
	for _, in := range ins {
		s := in.name
		if !in.passing {
			s += " (not passing)"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

func nodeNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("node-%d", i))
	}
	return out
}

// waitInstances waits until exactly want are registered and passing, each
// answering on its request endpoint, or until timeout. It returns them, or
// an error saying what was registered instead.
func (g *grader) waitInstances(ctx context.Context, want []string, timeout time.Duration) ([]instance, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last []instance
	var lastErr error
	for {
		ins, err := g.instances(ctx)
		if err == nil {
			last, lastErr = ins, nil
			var got []string
			for _, in := range ins {
				if in.passing {
					got = append(got, in.name)
				}
			}
			if slices.Equal(got, want) && len(ins) == len(want) {
				if lastErr = g.answers(ins); lastErr == nil {
					return ins, nil
				}
			}
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("within %v, registered: %s", timeout, strings.Join(names(last), ", "))
			if lastErr != nil {
				msg += "; " + lastErr.Error()
			}
			return nil, fmt.Errorf("%s", msg)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// answers checks that every instance's request endpoint answers a GET_ONE.
func (g *grader) answers(ins []instance) error {
	for _, in := range ins {
		if in.rep == "" {
			return fmt.Errorf("%s registered no request endpoint (Meta rep, or a Port)", in.name)
		}
		c := newReqConn(in.rep, g.cfg.Timeout)
		_, err := c.callJSON(map[string]string{"op": "GET_ONE", "key": "grader-ping"})
		c.close()
		if err != nil {
			return fmt.Errorf("%s registered %s, which does not answer: %w", in.name, in.rep, err)
		}
	}
	return nil
}

// resetConsul removes the previous run's state: the KV prefix and every
// registration of the service (a server killed without deregistering
// leaves them).
func (g *grader) resetConsul(ctx context.Context) error {
	if _, err := g.agent.api.KV().DeleteTree(g.cfg.Prefix, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("grade: clearing %s in Consul: %w", g.cfg.Prefix, err)
	}
	services, err := g.agent.api.Agent().Services()
	if err != nil {
		return fmt.Errorf("grade: reading Consul's services: %w", err)
	}
	for id, s := range services {
		if s.Service == g.cfg.Service {
			if err := g.agent.api.Agent().ServiceDeregister(id); err != nil {
				return fmt.Errorf("grade: deregistering %s: %w", id, err)
			}
		}
	}
	return nil
}

// startConsul starts the server against the private agent and records the
// registration check. It returns nil if the nodes do not register.
func (g *grader) startConsul(ctx context.Context, check string) (*server, []instance, error) {
	if err := g.resetConsul(ctx); err != nil {
		return nil, nil, err
	}
	s, err := g.start("CONSUL_HTTP_ADDR=" + g.agent.addr)
	if err != nil {
		return nil, nil, err
	}
	want := nodeNames(0, g.cfg.Nodes)
	ins, err := g.waitInstances(ctx, want, g.cfg.StartTimeout)
	if err != nil {
		if done, how := s.exited(); done {
			err = fmt.Errorf("%w; %s", err, how)
		}
		if t := s.out.String(); t != "" {
			err = fmt.Errorf("%w; last output: %s", err, t)
		}
	}
	g.check(check, fmt.Sprintf("%s registered as service %q and passing, each answering on its request endpoint",
		strings.Join(want, ", "), g.cfg.Service), strings.Join(names(ins), ", "), err)
	if err != nil {
		s.stop(5 * time.Second)
		return nil, nil, nil
	}
	return s, ins, nil
}

// writeSignal writes a node's add or remove signal as docs/REBALANCING.md
// gives it: <prefix>nodes/<name> = {"state":"up"} or {"state":"removed"}.
func (g *grader) writeSignal(ctx context.Context, name string, state consul.NodeState) error {
	p := &api.KVPair{Key: g.cfg.Prefix + "nodes/" + name, Value: []byte(`{"state":"` + string(state) + `"}`)}
	_, err := g.agent.api.KV().Put(p, (&api.WriteOptions{}).WithContext(ctx))
	return err
}

// phaseConsul checks registration, the add and remove signals and
// deregistration on SIGTERM.
func (g *grader) phaseConsul(ctx context.Context) error {
	s, ins, err := g.startConsul(ctx, CheckRegister)
	if err != nil {
		return err
	}
	if s == nil {
		g.skip("the nodes did not register", CheckAddSignal, CheckRemove, CheckDeregister)
		return nil
	}
	defer s.stop(5 * time.Second)
	n := g.cfg.Nodes

	// Add signal: node-N is launched and registers.
	added := fmt.Sprintf("node-%d", n)
	err = g.writeSignal(ctx, added, consul.NodeUp)
	if err == nil {
		ins, err = g.waitInstances(ctx, nodeNames(0, n+1), g.cfg.StartTimeout)
	}
	g.check(CheckAddSignal, fmt.Sprintf(`after %snodes/%s = {"state":"up"}: %s registered and answering`, g.cfg.Prefix, added, added),
		added+" registered", err)

	// Remove signal: node-0 deregisters and stops serving.
	before, _ := g.instances(ctx)
	var rep0 string
	for _, in := range before {
		if in.name == "node-0" {
			rep0 = in.rep
		}
	}
	err = g.writeSignal(ctx, "node-0", consul.NodeRemoved)
	if err == nil {
		want := nodeNames(1, n)
		if ins == nil { // the add failed: whatever else was there stays
			want = nil
			for _, in := range before {
				if in.name != "node-0" {
					want = append(want, in.name)
				}
			}
		} else {
			want = append(want, added)
		}
		_, err = g.waitInstances(ctx, want, g.cfg.Timeout)
	}
	if err == nil && rep0 != "" {
		err = g.waitClosed(ctx, rep0, g.cfg.Timeout)
	}
	g.check(CheckRemove, fmt.Sprintf(`after %snodes/node-0 = {"state":"removed"}: node-0 deregistered and its request port closed`, g.cfg.Prefix),
		"node-0 gone", err)

	// SIGTERM: every node deregisters.
	_ = s.p.Signal(syscall.SIGTERM)
	err = g.waitNone(ctx, g.cfg.Timeout)
	g.check(CheckDeregister, fmt.Sprintf("after SIGTERM to the server's process group, no instance of %q is registered", g.cfg.Service),
		"none registered", err)
	return nil
}

// waitClosed waits until nothing accepts connections at endpoint.
func (g *grader) waitClosed(ctx context.Context, endpoint string, timeout time.Duration) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for listening(u.Host) {
		if time.Now().After(deadline) {
			return fmt.Errorf("deregistered, but %s still accepts connections after %v", endpoint, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// waitNone waits until no instance of the service is registered.
func (g *grader) waitNone(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ins, err := g.instances(ctx)
		if err == nil && len(ins) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("still registered after %v: %s", timeout, strings.Join(names(ins), ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

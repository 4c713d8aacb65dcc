package grade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// caseReplicas are the replication factors of the instructor's cases.
var caseReplicas = []int{0, 2}

// CaseChecks returns the check names of the instructor's case at R=r on a
// cluster of n nodes.
func CaseChecks(r, n int) []string {
	return []string{
		fmt.Sprintf("R=%d start", r),
		fmt.Sprintf("R=%d load", r),
		fmt.Sprintf("R=%d add node-%d", r, n),
		fmt.Sprintf("R=%d remove node-0", r),
	}
}

// phaseCases runs the instructor's cases: for each R, a fresh cluster of
// N nodes loaded by zshard's producer, then node-N added and node-0
// removed by zshard's rebalancer, every key checked after each step.
func (g *grader) phaseCases(ctx context.Context) error {
	for _, r := range caseReplicas {
		if err := g.runCase(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (g *grader) runCase(ctx context.Context, r int) error {
	n := g.cfg.Nodes
	checks := CaseChecks(r, n)
	s, _, err := g.startConsul(ctx, checks[0])
	if err != nil {
		return err
	}
	if s == nil {
		g.skip("the nodes did not register", checks[1:]...)
		return nil
	}
	defer s.stop(10 * time.Second)
	stepTimeout := g.cfg.StartTimeout + 6*g.cfg.Timeout

	pcfg := producer.Config{
		Consul:         consul.Config{Addr: g.agent.addr, Service: g.cfg.Service, Prefix: g.cfg.Prefix},
		Settings:       layout.Settings{Algorithm: sharding.Consistent, Replicas: r},
		RequestTimeout: g.cfg.Timeout,
		// A fresh producer's first sends wait for its connections (a busy
		// machine may take more than the default half second).
		SendTimeout: g.cfg.Timeout / 4,
		Retries:     2,
	}
	keys := make([]string, g.cfg.CaseKeys)
	values := make([][]byte, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprintf("case-R%d-%05d-ключ", r, i)
		values[i], _ = encode(fmt.Sprintf("value %d of R=%d: значение", i, r))
	}
	copies := "1 node"
	if r > 0 {
		copies = fmt.Sprintf("%d nodes", r+1)
	}
	readable := fmt.Sprintf("all %d keys readable with the producer, each held by exactly the %s of its preference list", len(keys), copies)

	// Load.
	err = func() error {
		ctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		p, err := producer.New(ctx, pcfg)
		if err != nil {
			return err
		}
		defer p.Close()
		for i, k := range keys {
			if err := p.Put(ctx, k, values[i]); err != nil {
				return fmt.Errorf("PUT %q: %w", k, err)
			}
		}
		return g.checkHeld(ctx, pcfg, keys, values)
	}()
	if !g.check(checks[1], fmt.Sprintf("zshard's producer (consistent hashing, R=%d) loads %d keys; ", r, len(keys))+readable,
		fmt.Sprintf("%d keys, each on its %s", len(keys), copies), err) {
		g.skip("the load failed", checks[2:]...)
		return nil
	}

	// Add node-N, then remove node-0, with zshard's rebalancer.
	rcfg := rebalance.Config{Producer: pcfg, Grace: time.Second, JoinTimeout: g.cfg.StartTimeout}
	steps := []struct {
		check string
		run   func(context.Context) (rebalance.Report, error)
	}{
		{checks[2], func(ctx context.Context) (rebalance.Report, error) {
			return rebalance.Add(ctx, rcfg, fmt.Sprintf("node-%d", n), "")
		}},
		{checks[3], func(ctx context.Context) (rebalance.Report, error) {
			return rebalance.Remove(ctx, rcfg, "node-0")
		}},
	}
	for i, st := range steps {
		var rep rebalance.Report
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, stepTimeout)
			defer cancel()
			var err error
			if rep, err = st.run(ctx); err != nil {
				return fmt.Errorf("rebalance: %w", err)
			}
			return g.checkHeld(ctx, pcfg, keys, values)
		}()
		if !g.check(st.check, "zshard's rebalancer moves the keys; "+readable,
			fmt.Sprintf("%d keys moved; every key on its %s", rep.Moved(), copies), err) {
			g.skip("the previous step failed", checks[i+3:]...)
			return nil
		}
	}
	return ctx.Err()
}

// checkHeld checks, with a fresh producer (the cluster's current layout),
// that every key reads back its value and that GET_ALL of every member
// returns exactly the keys whose preference lists name it.
func (g *grader) checkHeld(ctx context.Context, pcfg producer.Config, keys []string, values [][]byte) error {
	pcfg.NoInit = true
	p, err := producer.New(ctx, pcfg)
	if err != nil {
		return err
	}
	defer p.Close()
	want := map[string][]string{} // node -> keys it must hold
	for i, k := range keys {
		v, err := g.get(ctx, p, k)
		if err != nil {
			return err
		}
		if !bytes.Equal(v, values[i]) {
			return fmt.Errorf("GET_ONE %q: %s, want %s", k, clip(v), values[i])
		}
		for _, node := range p.Replicas(k) {
			want[node] = append(want[node], k)
		}
	}
	var problems []string
	for _, m := range p.Members() {
		c := newReqConn(m.RepURL, g.cfg.Timeout)
		got, err := c.getAll()
		c.close()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", m.Name, err))
			continue
		}
		var missing, extra []string
		for _, k := range want[m.Name] {
			if _, ok := got[k]; !ok {
				missing = append(missing, k)
			}
			delete(got, k)
		}
		for k := range got {
			extra = append(extra, k)
		}
		slices.Sort(extra)
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%s lacks %d of its %d keys (first %q)", m.Name, len(missing), len(want[m.Name]), missing[0]))
		}
		if len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("%s holds %d keys it should not (first %q)", m.Name, len(extra), extra[0]))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// get reads key with the producer, asking again for up to the check's
// timeout while no replica answers (a node busy or still connecting); a key
// that a replica answered not found fails at once.
func (g *grader) get(ctx context.Context, p *producer.Producer, key string) ([]byte, error) {
	deadline := time.Now().Add(g.cfg.Timeout)
	for {
		v, err := p.Get(ctx, key)
		if err == nil {
			return v, nil
		}
		if errors.Is(err, producer.ErrNotFound) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("reading %q: %w", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

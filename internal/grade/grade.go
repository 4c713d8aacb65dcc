package grade

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Phases, in the order they run.
const (
	Phase1      = "phase1"
	Phase2      = "phase2"
	PhaseConsul = "consul"
	PhaseCases  = "cases"
)

// Defaults of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultStartTimeout = 30 * time.Second
)

// AllPhases lists every phase in the order Run runs them.
var AllPhases = []string{Phase1, Phase2, PhaseConsul, PhaseCases}

// Config describes what to grade and how. The zero value of every field but
// ServerCmd and Nodes is the default its comment states.
type Config struct {
	// ServerCmd is the student's launch command; the grader runs
	// `ServerCmd Nodes` with sh -c. Required.
	ServerCmd string
	// Nodes is the cluster size N: node-0 .. node-(N-1). Required, at least 1.
	Nodes int
	// Host is where the nodes listen. Default 127.0.0.1.
	Host string
	// RepBase and PullBase are the request and ingest ports of node-0; node
	// i listens on RepBase+i and PullBase+i. Defaults 2000 and 2100. The
	// server gets them in its environment as ZSHARD_BASE_PORT and
	// ZSHARD_BASE_PULL_PORT (a server may ignore them and use the defaults).
	RepBase, PullBase int
	// Phases are the phases to run, a subset of AllPhases. Default: phase1
	// and phase2, and with Consul also consul and cases.
	Phases []string
	// Consul runs the server against a private Consul agent (phases consul
	// and cases need it): started from ConsulBin, its address passed to the
	// server as CONSUL_HTTP_ADDR.
	Consul bool
	// ConsulBin is the consul binary. Required with Consul.
	ConsulBin string
	// Service is the Consul service name the nodes register under. Default
	// "zshard".
	Service string
	// Prefix is the Consul KV prefix of the add and remove signals
	// (<Prefix>nodes/<name>) and of the cluster settings. Default "zshard/".
	Prefix string
	// Keys is how many keys phase 2 writes over the nodes. Default 10000.
	Keys int
	// CaseKeys is how many keys each instructor's case loads. Default 2000.
	CaseKeys int
	// Timeout bounds each check's waits. Default 10s.
	Timeout time.Duration
	// StartTimeout bounds the wait for the nodes to listen (and, with
	// Consul, to register). Default 30s.
	StartTimeout time.Duration
	// ServerLog receives the server's output. Default: discarded.
	ServerLog io.Writer
	// Progress, if not nil, receives a line per phase and per check as the
	// grading goes.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	c.Host = cmp.Or(c.Host, "127.0.0.1")
	c.RepBase = cmp.Or(c.RepBase, 2000)
	c.PullBase = cmp.Or(c.PullBase, 2100)
	c.Service = cmp.Or(c.Service, "zshard")
	c.Prefix = cmp.Or(c.Prefix, "zshard/")
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	c.Keys = cmp.Or(c.Keys, 10000)
	c.CaseKeys = cmp.Or(c.CaseKeys, 2000)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.StartTimeout = cmp.Or(c.StartTimeout, DefaultStartTimeout)
	if c.ServerLog == nil {
		c.ServerLog = io.Discard
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if len(c.Phases) == 0 {
		c.Phases = []string{Phase1, Phase2}
		if c.Consul {
			c.Phases = append(c.Phases, PhaseConsul, PhaseCases)
		}
	}
	return c
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if strings.TrimSpace(c.ServerCmd) == "" {
		errs = append(errs, errors.New("grade: the server command is empty"))
	}
	if c.Nodes < 1 || c.Nodes > 99 {
		errs = append(errs, fmt.Errorf("grade: %d nodes: want 1 to 99", c.Nodes))
	}
	if c.Nodes < 2 && slices.Contains(c.Phases, PhaseCases) {
		errs = append(errs, errors.New("grade: the instructor's cases need at least 2 nodes"))
	}
	for _, p := range c.Phases {
		if !slices.Contains(AllPhases, p) {
			errs = append(errs, fmt.Errorf("grade: unknown phase %q (want one of %s)", p, strings.Join(AllPhases, ", ")))
		}
		if (p == PhaseConsul || p == PhaseCases) && !c.Consul {
			errs = append(errs, fmt.Errorf("grade: phase %s needs Consul", p))
		}
	}
	if c.Consul && c.ConsulBin == "" {
		errs = append(errs, errors.New("grade: no consul binary"))
	}
	for _, p := range []int{c.RepBase, c.PullBase} {
		if p < 1 || p+c.Nodes+1 > 65535 {
			errs = append(errs, fmt.Errorf("grade: base port %d out of range", p))
		}
	}
	if c.Keys < c.Nodes || c.CaseKeys < 1 {
		errs = append(errs, fmt.Errorf("grade: %d keys for %d nodes: want at least one per node", c.Keys, c.Nodes))
	}
	if c.Timeout < 0 || c.StartTimeout < 0 {
		errs = append(errs, errors.New("grade: timeouts must be positive"))
	}
	return errors.Join(errs...)
}

// Result is the outcome of one check.
type Result struct {
	Phase    string `json:"phase"`
	Check    string `json:"check"`
	Pass     bool   `json:"pass"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
}

// Card is a scorecard: every check that ran, in order.
type Card []Result

// Passed reports whether every check passed (and at least one ran).
func (c Card) Passed() bool {
	if len(c) == 0 {
		return false
	}
	for _, r := range c {
		if !r.Pass {
			return false
		}
	}
	return true
}

// Failed returns the names (phase/check) of the checks that failed.
func (c Card) Failed() []string {
	var out []string
	for _, r := range c {
		if !r.Pass {
			out = append(out, r.Phase+"/"+r.Check)
		}
	}
	return out
}

// WriteText writes the scorecard for a terminal: per check a line with
// pass or FAIL, the phase and the check, then what was expected and what
// came back; a summary line last.
func (c Card) WriteText(w io.Writer) error {
	passed := 0
	for _, r := range c {
		res := "FAIL"
		if r.Pass {
			res = "pass"
			passed++
		}
		if _, err := fmt.Fprintf(w, "%s  %s  %s\n      expected  %s\n      got       %s\n",
			res, r.Phase, r.Check, oneLine(r.Expected), oneLine(r.Got)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d of %d checks passed\n", passed, len(c))
	return err
}

// WriteJSON writes one JSON object per check, one per line.
func (c Card) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range c {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// grader is one run of Run.
type grader struct {
	cfg   Config
	card  Card
	phase string
	agent *agent // the private Consul agent, with Config.Consul
	// reps and pulls are the endpoints of node-0 .. node-(N-1) in the
	// running server (startNodes).
	reps, pulls []string
}

// Run grades the server cfg describes and returns the scorecard. Its error
// is for the grader's own failures (a bad Config, a Consul agent that does
// not start, ctx cancelled); the server's failures are failed checks. The
// card holds the checks that ran even when err is not nil.
func Run(ctx context.Context, cfg Config) (Card, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &grader{cfg: cfg.withDefaults()}
	if g.cfg.Consul {
		a, err := startAgent(ctx, g.cfg.ConsulBin, g.cfg.StartTimeout)
		if err != nil {
			return nil, err
		}
		defer a.stop()
		g.agent = a
	}
	for _, p := range AllPhases {
		if !slices.Contains(g.cfg.Phases, p) {
			continue
		}
		g.phase = p
		fmt.Fprintf(g.cfg.Progress, "== %s\n", p)
		var err error
		switch p {
		case Phase1:
			err = g.phase1(ctx)
		case Phase2:
			err = g.phase2(ctx)
		case PhaseConsul:
			err = g.phaseConsul(ctx)
		case PhaseCases:
			err = g.phaseCases(ctx)
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return g.card, err
		}
	}
	return g.card, nil
}

// record adds a check's result to the card.
func (g *grader) record(check string, pass bool, expected, got string) {
	r := Result{Phase: g.phase, Check: check, Pass: pass, Expected: expected, Got: got}
	g.card = append(g.card, r)
	res := "FAIL"
	if pass {
		res = "pass"
	}
	fmt.Fprintf(g.cfg.Progress, "%s  %s\n", res, check)
}

// check records a check that passes when err is nil; got is what came back
// when it passes, and err's text when it fails.
func (g *grader) check(check, expected string, got string, err error) bool {
	if err != nil {
		g.record(check, false, expected, err.Error())
		return false
	}
	g.record(check, true, expected, got)
	return true
}

// skip records checks that could not run, as failed.
func (g *grader) skip(why string, checks ...string) {
	for _, c := range checks {
		g.record(c, false, "", "not run: "+why)
	}
}

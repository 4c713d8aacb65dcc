package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/zshard/zshard/internal/metrics"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
)

// scrapeTimeout bounds one scrape of a node's metrics.
const scrapeTimeout = 2 * time.Second

// sample is one scrape of a node's metrics: what status --watch shows of it.
type sample struct {
	at        time.Time
	ops       float64           // operations received, BATCHes not counted (their ops are)
	keys      float64           // zshard_keys
	durations metrics.Histogram // request durations, every op
}

// sampleOf reads a sample from a scrape taken at at.
func sampleOf(f metrics.Families, at time.Time) sample {
	return sample{
		at:        at,
		ops:       f.Sum(node.MetricOps) - f.Sum(node.MetricOps, "op", protocol.OpBatch.String()),
		keys:      f.Sum(node.MetricKeys),
		durations: f.Histogram(node.MetricRequestDuration),
	}
}

// watchRow is one node of a status --watch table.
type watchRow struct {
	Name   string  `json:"name"`
	Health string  `json:"health"`
	Keys   int64   `json:"keys"`
	OpsPS  float64 `json:"-"`      // NaN before the second scrape
	P99    float64 `json:"-"`      // NaN when no request was timed meanwhile
	Source string  `json:"source"` // "metrics", or "stats" when the node serves none
}

// statusWatcher refreshes the status table every interval from the
// nodes' metrics, keeping each node's previous sample for the rates.
type statusWatcher struct {
	p        *producer.Producer
	out      io.Writer
	json     bool
	tty      bool
	interval time.Duration
	client   *http.Client
	mu       sync.Mutex        // guards prev, written by the scrapes
	prev     map[string]sample // by metrics URL
}

// watchStatus prints the status table every interval until ctx ends
// (Ctrl-C), then returns nil. On a terminal each table replaces the last;
// otherwise (a pipe, a file) the tables follow one another, each headed by
// its time, and with --json each refresh is one line of JSON.
func watchStatus(ctx context.Context, p *producer.Producer, out io.Writer, asJSON bool, interval time.Duration) error {
	w := &statusWatcher{p: p, out: out, json: asJSON, tty: isTerminal(out), interval: interval,
		client: &http.Client{Timeout: scrapeTimeout}, prev: map[string]sample{}}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := w.refresh(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// refresh reads the members and their metrics once and prints the table.
func (w *statusWatcher) refresh(ctx context.Context) error {
	st, err := w.p.Status(ctx)
	if err != nil {
		return err
	}
	rows := make([]watchRow, len(st.Nodes))
	var wg sync.WaitGroup
	for i, n := range st.Nodes {
		rows[i] = watchRow{Name: n.Name, Health: health(n), Keys: n.Keys, OpsPS: math.NaN(), P99: math.NaN(), Source: "stats"}
		if n.MetricsURL == "" || !n.Passing {
			continue
		}
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
			defer cancel()
			f, err := metrics.Scrape(sctx, w.client, n.MetricsURL)
			if err != nil {
				rows[i].Health = "NO METRICS"
				return
			}
			rows[i].Source = "metrics"
			cur := sampleOf(f, time.Now())
			rows[i].Keys = int64(cur.keys)
			prev, ok := w.prevOf(n.MetricsURL)
			rows[i].OpsPS, rows[i].P99 = rates(prev, ok, cur)
			w.setPrev(n.MetricsURL, cur)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return w.print(rows)
}

func (w *statusWatcher) prevOf(url string) (sample, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.prev[url]
	return s, ok
}

func (w *statusWatcher) setPrev(url string, s sample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prev[url] = s
}

// rates returns the operations per second and the p99 request duration
// between the previous sample (ok: there is one) and cur; NaN where they
// are unknown.
func rates(prev sample, ok bool, cur sample) (opsPS, p99 float64) {
	dt := cur.at.Sub(prev.at).Seconds()
	if !ok || dt <= 0 || cur.ops < prev.ops { // no earlier sample, or the node restarted
		return math.NaN(), math.NaN()
	}
	return (cur.ops - prev.ops) / dt, cur.durations.Sub(prev.durations).Quantile(0.99)
}

func health(n producer.NodeStatus) string {
	switch {
	case !n.Passing:
		return "DOWN"
	case !n.Healthy:
		return "NO ANSWER"
	case !n.Member:
		return "not a member"
	}
	return "ok"
}

func (w *statusWatcher) print(rows []watchRow) error {
	now := time.Now()
	if w.json {
		type jsonRow struct {
			watchRow
			OpsPS *float64 `json:"ops_per_second,omitempty"`
			P99   *float64 `json:"p99_seconds,omitempty"`
		}
		out := make([]jsonRow, len(rows))
		for i, r := range rows {
			out[i].watchRow = r
			out[i].OpsPS, out[i].P99 = known(r.OpsPS), known(r.P99)
		}
		return printJSON(w.out, map[string]any{"time": now.UTC().Format(time.RFC3339Nano), "nodes": out})
	}
	if w.tty {
		fmt.Fprint(w.out, "\033[H\033[2J") // home, clear screen
	}
	fmt.Fprintf(w.out, "%s   refreshed every %v   Ctrl-C to stop\n", now.Format("15:04:05"), w.interval)
	tw := tabwriter.NewWriter(w.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEALTH\tKEYS\tOPS/S\tP99")
	var keys int64
	ops := math.NaN()
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Name, r.Health, r.Keys, opsText(r.OpsPS), durText(r.P99))
		keys += r.Keys
		switch {
		case math.IsNaN(r.OpsPS):
		case math.IsNaN(ops):
			ops = r.OpsPS
		default:
			ops += r.OpsPS
		}
	}
	fmt.Fprintf(tw, "total\t\t%d\t%s\n", keys, opsText(ops))
	if err := tw.Flush(); err != nil {
		return err
	}
	if !w.tty {
		fmt.Fprintln(w.out)
	}
	return nil
}

func known(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func opsText(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func durText(seconds float64) string {
	if math.IsNaN(seconds) {
		return "-"
	}
	return time.Duration(seconds * float64(time.Second)).Round(time.Microsecond).String()
}

package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/supervisor"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// metricName matches the metric names a query may use.
var metricName = regexp.MustCompile(`\b(?:zshard|go|process)_[a-zA-Z0-9_]+\b|\bup\b`)

// TestGrafanaDashboard: deploy/grafana/zshard.json parses as a dashboard,
// every panel has queries, and every metric they use is exported by a
// durable node with its metrics on (scraped from a real one) or by the
// supervisor.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "zshard.json"))
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	require.Equal(t, "zshard", d.Title)
	require.NotEmpty(t, d.UID)

	var exprs []string
	for _, v := range d.Templating.List {
		if v.Name == "node" {
			b, err := json.Marshal(v.Query)
			require.NoError(t, err)
			exprs = append(exprs, string(b))
		}
	}
	require.Len(t, exprs, 1, "a node variable")
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel %q", p.Title)
			exprs = append(exprs, tg.Expr)
		}
	}

	s, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "dash-0"}, DataDir: t.TempDir(), Metrics: true})
	require.NoError(t, err)
	defer s.Stop()
	f := scrape(t, s.MetricsURL())
	exported := func(name string) bool {
		if name == "up" || f[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && f[base] != nil {
				return true
			}
		}
		return slices.Contains([]string{supervisor.MetricNodesRunning, supervisor.MetricNodeRunning, supervisor.MetricRestarts,
			supervisor.MetricClaimAttempts, supervisor.MetricClaimsHeld}, name)
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used[name] = true
			require.True(t, exported(name), "the dashboard queries %s, which nothing exports (in %s)", name, e)
		}
	}
	require.Contains(t, used, "zshard_request_duration_seconds_bucket")
	require.Contains(t, used, "zshard_ops_total")
}

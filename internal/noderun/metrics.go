package noderun

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zshard/zshard/internal/metrics"
	"github.com/zshard/zshard/internal/repair"
)

// Metric names of the background repair.
const (
	MetricRepairRounds        = "zshard_repair_rounds_total"
	MetricRepairDiffering     = "zshard_repair_differing_partitions_total"
	MetricRepairFixed         = "zshard_repair_fixed_keys_total"
	MetricRepairLastCompleted = "zshard_repair_last_completed_timestamp_seconds"
)

// repairStats are the figures of the node's background repair rounds,
// written by the repair's goroutine and read by scrapes.
type repairStats struct {
	mu            sync.Mutex
	rounds        map[string]uint64 // by result: done, paused, failed
	differing     uint64
	fixed         uint64
	lastCompleted time.Time
}

// onRound records the outcome of one background round.
func (r *repairStats) onRound(rep repair.Report, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rounds == nil {
		r.rounds = map[string]uint64{}
	}
	switch {
	case errors.Is(err, repair.ErrPaused):
		r.rounds["paused"]++
	case err != nil:
		r.rounds["failed"]++
	default:
		r.rounds["done"]++
		r.lastCompleted = time.Now()
	}
	r.differing += uint64(rep.Differing)
	r.fixed += uint64(rep.FixedTotal())
}

var (
	descRepairRounds = prometheus.NewDesc(MetricRepairRounds,
		"Background anti-entropy rounds of the partitions this node leads, by result: done, paused (a migration or a repair ran) or failed.",
		[]string{"result"}, nil)
	descRepairDiffering = prometheus.NewDesc(MetricRepairDiffering,
		"Partitions whose replicas differed, summed over the background rounds.", nil, nil)
	descRepairFixed = prometheus.NewDesc(MetricRepairFixed,
		"Records written to replicas that lacked their newest version, summed over the background rounds.", nil, nil)
	descRepairLast = prometheus.NewDesc(MetricRepairLastCompleted,
		"Unix time the last background round completed; 0 before the first.", nil, nil)
)

func (r *repairStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRepairRounds
	ch <- descRepairDiffering
	ch <- descRepairFixed
	ch <- descRepairLast
}

func (r *repairStats) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, result := range []string{"done", "paused", "failed"} {
		ch <- prometheus.MustNewConstMetric(descRepairRounds, prometheus.CounterValue, float64(r.rounds[result]), result)
	}
	ch <- prometheus.MustNewConstMetric(descRepairDiffering, prometheus.CounterValue, float64(r.differing))
	ch <- prometheus.MustNewConstMetric(descRepairFixed, prometheus.CounterValue, float64(r.fixed))
	last := 0.0
	if !r.lastCompleted.IsZero() {
		last = float64(r.lastCompleted.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descRepairLast, prometheus.GaugeValue, last)
}

// serveMetrics starts the node's metrics endpoint, when configured, on
// the node's bind address: the node's figures, its Pebble engine's when
// the run opened one, the background repair's, and the Go runtime's and
// process's.
func (s *Server) serveMetrics() error {
	if !s.cfg.Metrics {
		return nil
	}
	cs := []prometheus.Collector{s.node.Collector(), &s.repair}
	if s.store != nil {
		cs = append(cs, s.store.Collector())
	}
	reg, err := metrics.NewRegistry(cs...)
	if err != nil {
		return err
	}
	srv, err := metrics.Serve(s.node.Bind(), s.cfg.MetricsPort, reg, s.cfg.Logger)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return fmt.Errorf("%w: %s: metrics endpoint: %v (choose another --metrics-port, or 0 for none)", ErrPortTaken, s.node.Name(), err)
		}
		return err
	}
	s.metrics = srv
	return nil
}

// MetricsURL returns the URL of the node's metrics endpoint, with the
// host of the request endpoint as registered (as bound without Consul);
// "" when it serves none.
func (s *Server) MetricsURL() string {
	if s.metrics == nil {
		return ""
	}
	host, _, err := splitHostPort(s.rep)
	if err != nil {
		return ""
	}
	return metrics.URL(host, s.metrics.Port())
}

// closeMetrics stops the metrics endpoint, if any.
func (s *Server) closeMetrics() {
	if s.metrics == nil {
		return
	}
	if err := s.metrics.Close(); err != nil {
		s.cfg.Logger.Warn("closing the metrics endpoint", "node", s.node.Name(), "err", err)
	}
}

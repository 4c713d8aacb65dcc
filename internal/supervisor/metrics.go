package supervisor

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zshard/zshard/internal/metrics"
)

// Metric names of a supervisor (docs/OPERATIONS.md).
const (
	MetricNodesRunning  = "zshard_supervisor_nodes_running"
	MetricNodeRunning   = "zshard_supervisor_node_running"
	MetricRestarts      = "zshard_supervisor_restarts_total"
	MetricClaimAttempts = "zshard_supervisor_claim_attempts_total"
	MetricClaimsHeld    = "zshard_supervisor_claims_held"
)

// supervisorMetrics are updated by the supervisor's loop and read by
// scrapes; the prometheus types are safe for that.
type supervisorMetrics struct {
	nodesRunning prometheus.Gauge
	nodeRunning  *prometheus.GaugeVec   // {node}: 1 while its process runs
	restarts     *prometheus.CounterVec // {node}
	claims       *prometheus.CounterVec // {result}
	claimsHeld   prometheus.Gauge
}

func newSupervisorMetrics() *supervisorMetrics {
	m := &supervisorMetrics{
		nodesRunning: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricNodesRunning,
			Help: "Node processes this supervisor runs."}),
		nodeRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricNodeRunning,
			Help: "1 while this supervisor runs the node's process, else 0."}, []string{"node"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRestarts,
			Help: "Restarts scheduled after a node's process exited unexpectedly or could not be launched, by node."}, []string{"node"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricClaimAttempts,
			Help: "Attempts to claim a node in Consul, by result: won, held (by another supervisor) or error."}, []string{"result"}),
		claimsHeld: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricClaimsHeld,
			Help: "Nodes this supervisor holds the Consul claim of."}),
	}
	for _, r := range []string{"won", "held", "error"} {
		m.claims.WithLabelValues(r)
	}
	return m
}

// collectors returns the collectors to register.
func (m *supervisorMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.nodesRunning, m.nodeRunning, m.restarts, m.claims, m.claimsHeld}
}

// updateMetrics sets the gauges from the supervisor's state.
func (s *supervisor) updateMetrics() {
	m := s.metrics
	m.nodesRunning.Set(float64(len(s.running)))
	m.claimsHeld.Set(float64(len(s.claimed)))
	for name := range s.known {
		v := 0.0
		if s.running[name] != nil {
			v = 1
		}
		m.nodeRunning.WithLabelValues(name).Set(v)
	}
}

// serveMetrics starts the supervisor's metrics endpoint.
func (s *supervisor) serveMetrics() (*metrics.Server, error) {
	reg, err := metrics.NewRegistry(s.metrics.collectors()...)
	if err != nil {
		return nil, err
	}
	srv, err := metrics.Serve(s.cfg.MetricsBind, s.cfg.MetricsPort, reg, s.log)
	if err != nil {
		return nil, fmt.Errorf("supervisor: metrics endpoint on port %d: %w (another supervisor on this host? give each its own --metrics-port, or 0 for none)",
			s.cfg.MetricsPort, err)
	}
	s.log.Info("supervisor metrics", "url", metrics.URL(s.cfg.MetricsBind, srv.Port()))
	return srv, nil
}

// countClaim counts a claim attempt of name and keeps track of the claims
// held.
func (s *supervisor) countClaim(name string, won bool, err error) {
	switch {
	case err != nil:
		s.metrics.claims.WithLabelValues("error").Inc()
	case won:
		s.metrics.claims.WithLabelValues("won").Inc()
		s.claimed[name] = true
	default:
		s.metrics.claims.WithLabelValues("held").Inc()
		delete(s.claimed, name)
	}
}

// metricsArgs are the flags that place name's metrics endpoint.
func (s *supervisor) metricsArgs(name string) []string {
	if s.cfg.BaseMetricsPort < 0 {
		return []string{"--metrics-port", "0"}
	}
	if port := MetricsPort(name, s.cfg.BaseMetricsPort); port != 0 {
		return []string{"--metrics-port", strconv.Itoa(port)}
	}
	return nil // the node's default: a free port
}

package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zshard/zshard/internal/protocol"
)

// Prometheus metric names of a node (docs/OPERATIONS.md lists them all).
const (
	MetricOps             = "zshard_ops_total"
	MetricErrors          = "zshard_errors_total"
	MetricMessages        = "zshard_messages_total"
	MetricReceivedBytes   = "zshard_received_bytes_total"
	MetricFailedMessages  = "zshard_failed_messages_total"
	MetricKeys            = "zshard_keys"
	MetricBytes           = "zshard_bytes"
	MetricTombstones      = "zshard_tombstones"
	MetricCatchingUp      = "zshard_catchup_active"
	MetricCatchUpApplied  = "zshard_catchup_records_applied_total"
	MetricRequestDuration = "zshard_request_duration_seconds"
	MetricIngestBatchOps  = "zshard_ingest_batch_ops"
	MetricSyncWait        = "zshard_sync_wait_seconds"
	MetricNodeInfo        = "zshard_node_info"
	MetricMemoryBudget    = "zshard_memory_budget_bytes"
	MetricMemoryInUse     = "zshard_memory_in_use_bytes"
	MetricMemoryPeak      = "zshard_memory_peak_bytes"
	MetricMemoryRejected  = "zshard_memory_rejected_total"
	MetricCurveRefused    = "zshard_curve_refused_total"
	MetricCurveForbidden  = "zshard_curve_forbidden_total"
)

// histograms are what a node observes per request when Config.Metrics is
// set: a clock read at the start and end of each request on the request
// endpoint and one observation per ingest message. The label children are
// resolved once, in newHistograms, so an observation costs no lookup.
type histograms struct {
	requestVec *prometheus.HistogramVec
	request    [16]prometheus.Observer // by protocol.Op
	batchOps   prometheus.Histogram
	syncWait   prometheus.Histogram
}

func newHistograms() *histograms {
	h := &histograms{
		requestVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: MetricRequestDuration,
			Help: "Time from receiving a request on the request endpoint to handing its reply to the socket (after the group commit when writes wait for the disk), by operation.",
			// 25us to about 3.3s.
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 18),
		}, []string{"op"}),
		batchOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricIngestBatchOps,
			Help:    "Operations per message received on the ingest endpoint (1 for a single PUT, DELETE or SYNC).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 to 16384
		}),
		syncWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricSyncWait,
			Help:    "Time a SYNC request waited for its token to be applied on the ingest endpoint (or for its timeout).",
			Buckets: prometheus.ExponentialBuckets(25e-6, 4, 12), // 25us to about 105s
		}),
	}
	for _, op := range protocol.Ops {
		h.request[op&15] = h.requestVec.WithLabelValues(op.String())
	}
	return h
}

// requestStart returns the time a request starts, or the zero time when the node
// observes no durations.
func (n *Node) requestStart() time.Time {
	if n.hist == nil {
		return time.Time{}
	}
	return time.Now()
}

// observeRequest records the duration of a request of op that started at t0 (a
// no-op when the node observes no durations).
func (n *Node) observeRequest(op protocol.Op, t0 time.Time) {
	if n.hist == nil || t0.IsZero() {
		return
	}
	if o := n.hist.request[op&15]; o != nil {
		o.Observe(time.Since(t0).Seconds())
	}
}

// observeSync records how long a SYNC waited.
func (n *Node) observeSync(t0 time.Time) {
	if n.hist == nil || t0.IsZero() {
		return
	}
	d := time.Since(t0).Seconds()
	n.hist.syncWait.Observe(d)
	n.hist.request[protocol.OpSync&15].Observe(d)
}

// observeIngest records the size of a message received on the ingest
// endpoint.
func (n *Node) observeIngest(r *protocol.Request) {
	if n.hist == nil {
		return
	}
	ops := 1
	if r.Op == protocol.OpBatch {
		ops = len(r.Ops)
	}
	n.hist.batchOps.Observe(float64(ops))
}

// Collector returns a Prometheus collector of the node's figures. The
// counters are those STATS reports, read at scrape time, so the two agree
// and counting costs the request path nothing more:
//
//   - zshard_ops_total{op, endpoint}: operations received, by endpoint
//     ("request" or "ingest"); the operations inside a BATCH are counted
//     one by one, besides the BATCH itself;
//   - zshard_errors_total{code}: operations answered or dropped with an
//     error, by error code;
//   - zshard_messages_total, zshard_received_bytes_total and
//     zshard_failed_messages_total{endpoint}: messages received;
//   - zshard_keys, zshard_bytes, zshard_tombstones: live keys, their bytes
//     (keys and values), and tombstones, which are not keys;
//   - zshard_catchup_active, zshard_catchup_records_applied_total;
//   - zshard_memory_budget_bytes, zshard_memory_in_use_bytes,
//     zshard_memory_peak_bytes and zshard_memory_rejected_total: the
//     memory budget for replies, as STATS "memory" reports it;
//   - zshard_curve_refused_total and zshard_curve_forbidden_total, on a
//     node running CURVE only, as STATS "curve";
//   - zshard_node_info{name}: always 1.
//
// With Config.Metrics it also collects the histograms
// zshard_request_duration_seconds{op}, zshard_ingest_batch_ops and
// zshard_sync_wait_seconds. The collector is safe for concurrent use.
func (n *Node) Collector() prometheus.Collector { return nodeCollector{n} }

type nodeCollector struct{ n *Node }

var _ prometheus.Collector = nodeCollector{}

var (
	descOps = prometheus.NewDesc(MetricOps,
		"Operations received, by endpoint; the operations inside a BATCH are counted one by one, besides the BATCH.",
		[]string{"op", "endpoint"}, nil)
	descErrors = prometheus.NewDesc(MetricErrors,
		"Operations answered (request endpoint) or dropped (ingest endpoint) with an error, by error code.",
		[]string{"code"}, nil)
	descMessages      = prometheus.NewDesc(MetricMessages, "Messages received, by endpoint.", []string{"endpoint"}, nil)
	descReceivedBytes = prometheus.NewDesc(MetricReceivedBytes, "Bytes received (all frames), by endpoint.", []string{"endpoint"}, nil)
	descFailed        = prometheus.NewDesc(MetricFailedMessages,
		"Messages with at least one failed operation, by endpoint.", []string{"endpoint"}, nil)
	descKeys       = prometheus.NewDesc(MetricKeys, "Live keys stored (tombstones not counted).", nil, nil)
	descBytes      = prometheus.NewDesc(MetricBytes, "Bytes of the live keys and their values.", nil, nil)
	descTombstones = prometheus.NewDesc(MetricTombstones, "Tombstones of deleted keys kept until their TTL.", nil, nil)
	descCatchingUp = prometheus.NewDesc(MetricCatchingUp,
		"1 while the node catches up from its replicas (it refuses reads with not_ready), else 0.", nil, nil)
	descCatchUpApplied = prometheus.NewDesc(MetricCatchUpApplied,
		"Records copied from replicas and applied by catch-ups since the node started.", nil, nil)
	descInfo = prometheus.NewDesc(MetricNodeInfo, "Always 1; its label name is the node's name.", []string{"name"}, nil)

	descMemoryBudget = prometheus.NewDesc(MetricMemoryBudget,
		"The memory budget for replies being built or not yet written to their clients (--memory-budget).", nil, nil)
	descMemoryInUse    = prometheus.NewDesc(MetricMemoryInUse, "Bytes of the memory budget in use now.", nil, nil)
	descMemoryPeak     = prometheus.NewDesc(MetricMemoryPeak, "The most bytes of the memory budget in use at once since the node started.", nil, nil)
	descMemoryRejected = prometheus.NewDesc(MetricMemoryRejected,
		"Requests answered busy because the memory budget, or the client's share of it, was spent.", nil, nil)
	descCurveRefused = prometheus.NewDesc(MetricCurveRefused,
		"CURVE connections and messages refused: keys not allowed, plaintext clients, wrong server keys.", nil, nil)
	descCurveForbidden = prometheus.NewDesc(MetricCurveForbidden,
		"Maintenance operations refused to an allowed key that is not an admin's (error forbidden).", nil, nil)
)

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOps, descErrors, descMessages, descReceivedBytes, descFailed,
		descKeys, descBytes, descTombstones, descCatchingUp, descCatchUpApplied, descInfo,
		descMemoryBudget, descMemoryInUse, descMemoryPeak, descMemoryRejected, descCurveRefused, descCurveForbidden} {
		ch <- d
	}
	if h := c.n.hist; h != nil {
		h.requestVec.Describe(ch)
		h.batchOps.Describe(ch)
		h.syncWait.Describe(ch)
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, op := range protocol.Ops {
		counter(descOps, n.stats.ops[op&15].Load(), op.String(), EndpointRequest)
		counter(descOps, n.stats.ingestOps[op&15].Load(), op.String(), EndpointIngest)
	}
	for i, code := range protocol.Codes {
		counter(descErrors, n.stats.errs[i].Load(), string(code))
	}
	for _, e := range []struct {
		name string
		c    *endpointCounters
	}{{EndpointRequest, &n.stats.request}, {EndpointIngest, &n.stats.ingest}} {
		counter(descMessages, e.c.messages.Load(), e.name)
		counter(descReceivedBytes, e.c.bytes.Load(), e.name)
		counter(descFailed, e.c.errors.Load(), e.name)
	}
	st := n.store.Stats()
	gauge(descKeys, float64(st.Keys))
	gauge(descBytes, float64(st.Bytes))
	gauge(descTombstones, float64(st.Tombstones))
	catching := 0.0
	if n.CatchingUp() {
		catching = 1
	}
	gauge(descCatchingUp, catching)
	counter(descCatchUpApplied, n.stats.catchUp.Load())
	gauge(descInfo, 1, n.cfg.Name)
	mem := n.large.budget.stats()
	gauge(descMemoryBudget, float64(mem.BudgetBytes))
	gauge(descMemoryInUse, float64(mem.InUseBytes))
	gauge(descMemoryPeak, float64(mem.PeakBytes))
	counter(descMemoryRejected, mem.Rejected)
	if cs := n.curveStats(); cs != nil {
		counter(descCurveRefused, cs.Refused)
		counter(descCurveForbidden, cs.Forbidden)
	}
	if h := n.hist; h != nil {
		h.requestVec.Collect(ch)
		h.batchOps.Collect(ch)
		h.syncWait.Collect(ch)
	}
}

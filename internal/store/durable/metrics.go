package durable

import (
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector of the Pebble engine's own
// figures (pebble.Metrics), read at scrape time: the zshard_pebble_*
// metrics of docs/OPERATIONS.md (block cache, memtables, WAL, compactions,
// flushes, read amplification, and tables and bytes per level). A closed
// store collects nothing.
func (s *Store) Collector() prometheus.Collector { return pebbleCollector{s} }

type pebbleCollector struct{ s *Store }

var _ prometheus.Collector = pebbleCollector{}

// pebbleMetric is one figure of pebble.Metrics.
type pebbleMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(m *pebble.Metrics) float64
}

func pebbleDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("zshard_pebble_"+name, help, nil, nil)
}

var pebbleMetrics = []pebbleMetric{
	{pebbleDesc("block_cache_bytes", "Bytes in the block cache."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.BlockCache.Size) }},
	{pebbleDesc("block_cache_hits_total", "Block cache hits."), prometheus.CounterValue,
		func(m *pebble.Metrics) float64 { return float64(m.BlockCache.Hits) }},
	{pebbleDesc("block_cache_misses_total", "Block cache misses."), prometheus.CounterValue,
		func(m *pebble.Metrics) float64 { return float64(m.BlockCache.Misses) }},
	{pebbleDesc("memtable_bytes", "Bytes allocated by memtables, including those being flushed."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.MemTable.Size) }},
	{pebbleDesc("memtables", "Memtables, including those being flushed."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.MemTable.Count) }},
	{pebbleDesc("wal_files", "Live WAL files."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.WAL.Files) }},
	{pebbleDesc("wal_bytes", "Physical size of the live WAL files."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.WAL.PhysicalSize) }},
	{pebbleDesc("wal_written_bytes_total", "Bytes written to the WAL."), prometheus.CounterValue,
		func(m *pebble.Metrics) float64 { return float64(m.WAL.BytesWritten) }},
	{pebbleDesc("flushes_total", "Memtable flushes."), prometheus.CounterValue,
		func(m *pebble.Metrics) float64 { return float64(m.Flush.Count) }},
	{pebbleDesc("compactions_total", "Compactions."), prometheus.CounterValue,
		func(m *pebble.Metrics) float64 { return float64(m.Compact.Count) }},
	{pebbleDesc("compaction_debt_bytes", "Estimated bytes to compact for the LSM to reach a stable state."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.Compact.EstimatedDebt) }},
	{pebbleDesc("compactions_in_progress", "Compactions running now."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.Compact.NumInProgress) }},
	{pebbleDesc("read_amplification", "Sublevels of L0 plus non-empty levels below: the tables a point read may check."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.ReadAmp()) }},
	{pebbleDesc("disk_usage_bytes", "Bytes the engine uses on disk (tables, WAL, and the rest)."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.DiskSpaceUsage()) }},
	{pebbleDesc("snapshots", "Open snapshots."), prometheus.GaugeValue,
		func(m *pebble.Metrics) float64 { return float64(m.Snapshots.Count) }},
}

var (
	descPebbleLevelTables = prometheus.NewDesc("zshard_pebble_level_tables", "Tables in each level of the LSM.", []string{"level"}, nil)
	descPebbleLevelBytes  = prometheus.NewDesc("zshard_pebble_level_bytes", "Bytes of the tables in each level of the LSM.", []string{"level"}, nil)
)

func (c pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, pm := range pebbleMetrics {
		ch <- pm.desc
	}
	ch <- descPebbleLevelTables
	ch <- descPebbleLevelBytes
}

func (c pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	if err := c.s.acquire(); err != nil {
		return
	}
	m := c.s.db.Metrics()
	c.s.release()
	for _, pm := range pebbleMetrics {
		ch <- prometheus.MustNewConstMetric(pm.desc, pm.typ, pm.value(m))
	}
	for i := range m.Levels {
		l := &m.Levels[i]
		level := strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(descPebbleLevelTables, prometheus.GaugeValue, float64(l.TablesCount), level)
		ch <- prometheus.MustNewConstMetric(descPebbleLevelBytes, prometheus.GaugeValue, float64(l.TablesSize), level)
	}
}

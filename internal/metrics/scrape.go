package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxScrapeBytes bounds what Scrape reads of one endpoint.
const maxScrapeBytes = 16 << 20

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Scrape fetches url (a /metrics endpoint) in the Prometheus text format
// and parses it.
func Scrape(ctx context.Context, client *http.Client, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: scrape %s: %s", url, resp.Status)
	}
	f, err := Parse(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("metrics: scrape %s: %w", url, err)
	}
	return f, nil
}

// Parse parses metrics in the Prometheus text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	f, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	return Families(f), nil
}

// matches reports whether m carries every label pair of match (name,
// value, name, value, ...).
func matches(m *dto.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == match[i] {
				found = lp.GetValue() == match[i+1]
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Sum returns the sum of the values of the counters, gauges and untyped
// metrics of family name that carry every label pair of match (name,
// value, ...); 0 when there is none.
func (f Families) Sum(name string, match ...string) float64 {
	mf := f[name]
	if mf == nil {
		return 0
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if !matches(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// Bucket is one cumulative bucket of a histogram: how many observations
// were at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram is a histogram read from a scrape, or the sum of several.
type Histogram struct {
	Buckets []Bucket // by UpperBound, without the +Inf bucket
	Count   uint64   // every observation
	Sum     float64  // of the observed values
}

// Histogram returns the sum of the histograms of family name that carry
// every label pair of match: the counts of the buckets with the same
// upper bound added.
func (f Families) Histogram(name string, match ...string) Histogram {
	var h Histogram
	mf := f[name]
	if mf == nil {
		return h
	}
	for _, m := range mf.GetMetric() {
		if m.Histogram == nil || !matches(m, match) {
			continue
		}
		var o Histogram
		o.Count, o.Sum = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
		for _, b := range m.GetHistogram().GetBucket() {
			if !math.IsInf(b.GetUpperBound(), +1) {
				o.Buckets = append(o.Buckets, Bucket{b.GetUpperBound(), b.GetCumulativeCount()})
			}
		}
		h = h.Add(o)
	}
	return h
}

// Add returns the sum of h and o: their counts, and the counts of the
// buckets with the same upper bound (a bound only one has keeps its count).
func (h Histogram) Add(o Histogram) Histogram {
	return h.combine(o, 1)
}

// Sub returns h minus old, an earlier reading of the same histogram: the
// observations made between the two. A counter that went down (the
// process restarted) yields h itself.
func (h Histogram) Sub(old Histogram) Histogram {
	if old.Count > h.Count {
		return h
	}
	return h.combine(old, -1)
}

func (h Histogram) combine(o Histogram, sign int) Histogram {
	out := Histogram{Count: apply(h.Count, o.Count, sign), Sum: h.Sum + float64(sign)*o.Sum}
	bounds := map[float64]uint64{}
	for _, b := range h.Buckets {
		bounds[b.UpperBound] += b.Count
	}
	for _, b := range o.Buckets {
		bounds[b.UpperBound] = apply(bounds[b.UpperBound], b.Count, sign)
	}
	for ub, c := range bounds {
		out.Buckets = append(out.Buckets, Bucket{ub, c})
	}
	slices.SortFunc(out.Buckets, func(a, b Bucket) int { return cmpFloat(a.UpperBound, b.UpperBound) })
	return out
}

func apply(a, b uint64, sign int) uint64 {
	if sign > 0 {
		return a + b
	}
	if b > a {
		return 0
	}
	return a - b
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Quantile estimates the q-quantile (0 <= q <= 1) of the observations as
// Prometheus's histogram_quantile does: linearly within the bucket that
// holds it, from 0 for the first bucket; an observation beyond the
// largest bound counts as that bound. NaN when there is no observation.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	q = min(max(q, 0), 1)
	rank := q * float64(h.Count)
	lower, below := 0.0, uint64(0)
	for _, b := range h.Buckets {
		if float64(b.Count) >= rank && b.Count > below {
			return lower + (b.UpperBound-lower)*(rank-float64(below))/float64(b.Count-below)
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower
}

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/zshard/zshard/internal/bench"
)

// writeBenchPlots writes throughput.png (ops/s per workload and run, with
// the redis baselines) and latency.png (GET_ONE p50/p99/p999 per run, with
// the REQ/REP echo).
func writeBenchPlots(r *bench.Result, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var labels []string
	var vals plotter.Values
	for _, run := range r.Runs {
		name := run.Algorithm + "/" + run.Codec
		if run.Storage != bench.StorageMemory {
			name += "/" + run.Storage
		}
		labels = append(labels, name+" bulk PUT", name+" ack PUT", name+" pipe GET")
		vals = append(vals, run.BulkPut.OpsPerSec, run.AckPut.OpsPerSec, run.PipeGet.OpsPerSec)
	}
	for _, rr := range r.Redis {
		labels = append(labels, "redis "+rr.Name)
		vals = append(vals, rr.RPS)
	}
	if err := barPlot(filepath.Join(dir, "throughput.png"), "ops/s (higher is better)", labels, vals); err != nil {
		return err
	}
	labels, vals = nil, nil
	for _, run := range r.Runs {
		name := run.Algorithm + "/" + run.Codec
		if run.Storage != bench.StorageMemory {
			name += "/" + run.Storage
		}
		labels = append(labels, name+" p50", name+" p99", name+" p999")
		vals = append(vals, float64(run.Get.P50)/1e3, float64(run.Get.P99)/1e3, float64(run.Get.P999)/1e3)
	}
	if r.ReqRep != nil {
		labels = append(labels, "REQ/REP p50", "REQ/REP p99", "REQ/REP p999")
		vals = append(vals, float64(r.ReqRep.P50)/1e3, float64(r.ReqRep.P99)/1e3, float64(r.ReqRep.P999)/1e3)
	}
	return barPlot(filepath.Join(dir, "latency.png"), "GET_ONE one at a time, microseconds", labels, vals)
}

func barPlot(path, title string, labels []string, vals plotter.Values) error {
	if len(vals) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = title
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	p.Add(bars)
	p.NominalY(labels...)
	if err := p.Save(9*vg.Inch, vg.Length(len(vals))*0.3*vg.Inch+vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

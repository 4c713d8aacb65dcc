package compare

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlots writes into dir, in format ("png" or "svg"):
//   - load-<mode>-<nodes>.<format>: keys per node over mean, one line per algorithm;
//   - movement-<mode>.<format>: keys moved on add over the optimum, by node count.
//
// It returns the files written.
func WritePlots(res Result, dir, format string) ([]string, error) {
	if format != "png" && format != "svg" {
		return nil, fmt.Errorf("%w: plot format %q (want png or svg)", ErrBadConfig, format)
	}
	var files []string
	c := res.Config
	for _, mode := range c.Modes {
		for _, n := range c.Nodes {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("Load per node (%s, %d nodes, %d keys)", mode, n, c.Keys)
			p.X.Label.Text = "node (sorted by load)"
			p.Y.Label.Text = "keys / mean"
			p.Y.Tick.Marker = fixedTicks{}
			var lines []any
			for _, r := range res.Rows {
				if r.Mode != mode || r.Nodes != n {
					continue
				}
				loads := slices.Clone(r.Loads)
				slices.Sort(loads)
				mean := float64(r.Keys) / float64(n)
				pts := make(plotter.XYs, len(loads))
				for i, l := range loads {
					pts[i] = plotter.XY{X: float64(i), Y: float64(l) / mean}
				}
				lines = append(lines, r.Algorithm, pts)
			}
			if err := plotutil.AddLinePoints(p, lines...); err != nil {
				return files, err
			}
			ref := plotter.NewFunction(func(float64) float64 { return 1 })
			ref.Color = color.Gray{Y: 128}
			ref.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(ref)
			name := filepath.Join(dir, fmt.Sprintf("load-%s-%d.%s", mode, n, format))
			if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, name); err != nil {
				return files, err
			}
			files = append(files, name)
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Keys moved on add / optimum (%s)", mode)
		p.X.Label.Text = "nodes before the add"
		p.Y.Label.Text = "moved / (keys/(n+1))"
		p.Y.Tick.Marker = fixedTicks{}
		var lines []any
		for _, alg := range c.Algorithms {
			var pts plotter.XYs
			for _, r := range res.Rows {
				if r.Mode == mode && r.Algorithm == alg {
					pts = append(pts, plotter.XY{X: float64(r.Nodes), Y: r.AddMoved})
				}
			}
			lines = append(lines, alg, pts)
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return files, err
		}
		name := filepath.Join(dir, fmt.Sprintf("movement-%s.%s", mode, format))
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, name); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	return files, nil
}

// fixedTicks labels the default ticks with two decimals: the default
// labels round 1.05 and 0.95 to too few digits for ratios near 1.
type fixedTicks struct{}

func (fixedTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = fmt.Sprintf("%.2f", ticks[i].Value)
		}
	}
	return ticks
}

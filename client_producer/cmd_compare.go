package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/compare"
	"github.com/zshard/zshard/sharding"
)

// compareFlags are the flags of `compare`.
type compareFlags struct {
	nodes      []int
	keys       int
	vnodes     int
	partitions int
	algorithms []string
	modes      []string
	trials     int
	benchTime  time.Duration
	plots      string
	format     string
	quiet      bool
}

func newCompareCmd(g *globalConfig) *cobra.Command {
	f := compareFlags{}
	def := compare.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Compare placement algorithms: lookup cost, balance and movement",
		Long: `compare places the same distinct keys ("key-0", "key-1", ...) with every
placement algorithm, through the partition table producers use ("table") and
with the algorithm alone ("direct"), and prints per algorithm:

  lookup ns/op and allocs/op     routing one key to its owner
  prefs ns/op                    its R+1 preference list (with -R > 0)
  build ms, mem KiB              building the structure, heap it keeps
  peak/mean, min/mean, stddev    keys per node over the mean
  add/remove moved/opt           keys moved when one node joins or leaves, over
                                 the optimum 1/(n+1) and 1/n (mean of --trials,
                                 then the worst)
  survivor moves                 keys moved between nodes present before and
                                 after (0 for minimal movement)

It needs no cluster. With --plots DIR it also writes load-per-node and
movement-vs-node-count plots (PNG or SVG).`,
		Example: `  client_producer compare
  client_producer compare --nodes 10,50,100 --keys 1000000 --plots out --format svg
  client_producer compare --algorithms hrw --modes table -R 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := compare.Config{
				Nodes: f.nodes, Keys: f.keys, Algorithms: f.algorithms, Modes: f.modes,
				VNodes: f.vnodes, Partitions: f.partitions, Replicas: g.Replicas,
				Trials: f.trials, BenchTime: f.benchTime,
			}
			if err := c.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			if f.format != "png" && f.format != "svg" {
				return fmt.Errorf("%w: --format %q: want png or svg", errUsage, f.format)
			}
			var progress func()
			if !f.quiet && !g.JSON {
				bar := progressbar.NewOptions(c.Steps(),
					progressbar.OptionSetWriter(cmd.ErrOrStderr()),
					progressbar.OptionSetDescription("measuring"),
					progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
				progress = func() { _ = bar.Add(1) }
			}
			res, err := compare.Run(c, progress)
			if err != nil {
				return err
			}
			if f.plots != "" {
				if err := os.MkdirAll(f.plots, 0o755); err != nil {
					return err
				}
				files, err := compare.WritePlots(res, f.plots, f.format)
				if err != nil {
					return err
				}
				if !g.JSON {
					defer fmt.Fprintf(cmd.OutOrStdout(), "\nplots: %s\n", strings.Join(files, " "))
				}
			}
			if g.JSON {
				return compare.WriteJSON(cmd.OutOrStdout(), res)
			}
			return compare.WriteText(cmd.OutOrStdout(), res)
		},
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&f.nodes, "nodes", def.Nodes, "cluster sizes to measure")
	fl.IntVar(&f.keys, "keys", def.Keys, "number of distinct keys")
	fl.IntVar(&f.vnodes, "vnodes", 0, fmt.Sprintf("ring points per node for consistent (0 = default %d)", sharding.DefaultVNodes))
	fl.IntVar(&f.partitions, "partitions", 0, fmt.Sprintf("partitions P of the table (0 = default %d)", sharding.DefaultPartitions))
	fl.StringSliceVar(&f.algorithms, "algorithms", def.Algorithms, "algorithms to compare")
	fl.StringSliceVar(&f.modes, "modes", def.Modes, "placement modes: table, direct")
	fl.IntVar(&f.trials, "trials", def.Trials, "nodes added, and removed, one at a time to measure movement")
	fl.DurationVar(&f.benchTime, "benchtime", def.BenchTime, "time spent timing each lookup measurement")
	fl.StringVar(&f.plots, "plots", "", "directory to write plots into (none if empty)")
	fl.StringVar(&f.format, "format", "png", "plot format: png or svg")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

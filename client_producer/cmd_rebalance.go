package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/layout"
)

// This file holds what add-node and remove-node share: their flags, the
// progress line and the final report.

type rebalanceFlags struct {
	DryRun   bool
	Wait     bool
	Grace    time.Duration
	AckEvery int
	Batch    int
	MaxRate  int
	Quiet    bool
	Dead     bool
}

func (f *rebalanceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.DryRun, "dry-run", false, "print what would move and change nothing")
	fl.BoolVar(&f.Wait, "wait", false, "wait for a running rebalancer to finish instead of exiting")
	fl.DurationVar(&f.Grace, "grace", rebalance.DefaultGrace, "time given to producers to see each layout phase change")
	fl.IntVar(&f.AckEvery, "ack-every", rebalance.DefaultAckEvery, "keys streamed per source before waiting for the destinations' acknowledgement (flow-control window)")
	fl.IntVar(&f.Batch, "batch", rebalance.DefaultBatchKeys, "keys per BATCH of verification reads and repairs")
	fl.IntVar(&f.MaxRate, "max-rate", 0, "copy at most this many keys per second (0: no bound)")
	fl.BoolVarP(&f.Quiet, "quiet", "q", false, "no progress line")
}

func (f *rebalanceFlags) config(cmd *cobra.Command, g *globalConfig) rebalance.Config {
	stderr := cmd.ErrOrStderr()
	cfg := rebalance.Config{
		Producer: g.producerConfig(stderr),
		Grace:    f.Grace, AckEvery: f.AckEvery, BatchKeys: f.Batch, MaxRate: f.MaxRate,
		Wait: f.Wait, DryRun: f.DryRun, Dead: f.Dead,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if !f.Quiet && !f.DryRun && !g.JSON {
		tty := isTerminal(stderr)
		last := ""
		cfg.ProgressEvery = 200 * time.Millisecond
		if !tty {
			cfg.ProgressEvery = 500 * time.Millisecond
		}
		cfg.Progress = func(p rebalance.Progress) {
			if p.Phase == "starting" {
				return // nothing happened yet (or it failed before starting)
			}
			line := progressLine(p)
			if line == last {
				return
			}
			last = line
			if tty {
				fmt.Fprintf(stderr, "\r\033[K%s", line)
				if p.Phase == "done" {
					fmt.Fprintln(stderr)
				}
			} else {
				fmt.Fprintln(stderr, line)
			}
		}
	}
	return cfg
}

// progressLine renders a progress snapshot: a bar over the estimated keys,
// keys and bytes moved, rate and ETA.
func progressLine(p rebalance.Progress) string {
	// The rate is over the copy (CopyElapsed), not the waits before it.
	secs := p.CopyElapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.Keys) / secs
	}
	bar, eta := "", ""
	if p.EstKeys > 0 {
		frac := min(1, float64(p.Keys)/float64(p.EstKeys))
		n := int(frac * 20)
		bar = "[" + strings.Repeat("=", n) + strings.Repeat(" ", 20-n) + "] "
		if rate > 0 && p.Keys < p.EstKeys && p.Phase == "copying" {
			eta = fmt.Sprintf("  ETA %s", time.Duration(float64(p.EstKeys-p.Keys)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	s := fmt.Sprintf("%-10s %skeys %d/~%d  %s", p.Phase, bar, p.Keys, p.EstKeys, humanBytes(p.Bytes))
	if p.Phase == "copying" {
		s += fmt.Sprintf("  %.0f keys/s%s", rate, eta)
	}
	if p.Fixed > 0 {
		s += fmt.Sprintf("  repaired %d", p.Fixed)
	}
	if p.Deleted > 0 {
		s += fmt.Sprintf("  deleted %d", p.Deleted)
	}
	return s
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// printReport prints the outcome of a rebalance or of a dry run.
func printReport(w io.Writer, g *globalConfig, rep rebalance.Report, dry bool) error {
	if g.JSON {
		return printJSON(w, map[string]any{"dry_run": dry, "report": rep, "moved": rep.Moved(),
			"join_s": rep.Join.Seconds(), "copy_s": rep.Copy.Seconds(), "verify_s": rep.Verify.Seconds(),
			"clean_s": rep.Clean.Seconds(), "total_s": rep.Total.Seconds()})
	}
	verb := map[bool]string{true: "would move", false: "moved"}[dry]
	fmt.Fprintf(w, "%s %s: layout %v -> %v\n", rep.Kind, rep.Node, rep.From, rep.To)
	if rep.Resumed {
		fmt.Fprintln(w, "(resumed an unfinished migration)")
	}
	fmt.Fprintf(w, "%d partitions change, %d partition copies:\n", rep.Partitions, rep.Transfers)
	if rep.Lost > 0 {
		fmt.Fprintf(w, "%d partitions were held by %s alone and are lost (no other replica)\n", rep.Lost, rep.Node)
	}
	for _, k := range slices.Sorted(maps.Keys(rep.PairPartitions)) {
		fmt.Fprintf(w, "  %-24s %d partitions\n", k, rep.PairPartitions[k])
	}
	if dry {
		fmt.Fprintf(w, "%s about %d keys (estimated from the nodes' key counts)\n", verb, rep.EstKeys)
		return nil
	}
	ratio := 0.0
	if rep.Optimum > 0 {
		ratio = float64(rep.Moved()) / float64(rep.Optimum)
	}
	fmt.Fprintf(w, "%s %d keys (%s): %d copied + %d repaired by verification; optimum %d (keys of the changed partitions), ratio %.3f\n",
		verb, rep.Moved(), humanBytes(rep.Bytes), rep.Keys, rep.Fixed, rep.Optimum, ratio)
	rate := 0.0
	if rep.Copy > 0 {
		rate = float64(rep.Keys) / rep.Copy.Seconds()
	}
	fmt.Fprintf(w, "deleted %d keys at the sources\n", rep.Deleted)
	fmt.Fprintf(w, "copy %s (%.0f keys/s), verify %s, delete %s; total %s (node start and grace periods included)\n",
		rep.Copy.Round(time.Millisecond), rate, rep.Verify.Round(time.Millisecond), rep.Clean.Round(time.Millisecond),
		rep.Total.Round(time.Millisecond))
	return nil
}

// printLayout prints, for status, the explicit layout and an unfinished
// rebalance with the command that resumes it.
func printLayout(ctx context.Context, w io.Writer, g *globalConfig, s layout.Settings) {
	if len(s.Members) > 0 {
		fmt.Fprintf(w, "layout (epoch %d): %s\n", s.Epoch, strings.Join(s.Members, " "))
	}
	m := s.Migration
	if m == nil {
		return
	}
	fmt.Fprintf(w, "UNFINISHED REBALANCE: %s %s in phase %s (%v -> %v)\n", m.Kind, m.Node, m.Phase, m.From, m.To)
	resume := rebalance.ResumeCommand(m)
	if cc, err := consul.New(g.consulConfig()); err == nil {
		if holder, err := cc.LockHolder(ctx, rebalance.LockName); err == nil && holder != "" {
			fmt.Fprintf(w, "  the rebalance lock is held by %s: it is running, or died less than about 20 s ago\n", holder)
			resume += " --wait"
		}
	}
	fmt.Fprintf(w, "  resume it with: %s\n", resume)
}

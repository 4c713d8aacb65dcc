package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/repair"
)

func newRepairCmd(g *globalConfig) *cobra.Command {
	var (
		dryRun, restart, wait, quiet bool
		maxRate, maxPartRate, chunk  int
	)
	cmd := &cobra.Command{
		Use:         "repair",
		Annotations: map[string]string{needsConsul: "yes"},
		Short:       "Make the replicas of every partition agree (anti-entropy)",
		Long: `repair compares the replicas of every partition and writes the newest record
of each key (last writer wins by write version; a delete is a record too, a
tombstone) to the replicas that lack it or hold an older version:

  1. takes the rebalance lock in Consul (zshard/locks/rebalance), so that no
     rebalance runs meanwhile (--wait waits for it); refuses to run while a
     migration is unfinished;
  2. for each chunk of partitions, asks every replica for a DIGEST with
     versions of the partitions it holds: a count and a sum of hashes of
     (key, version, deleted) per partition, no value read;
  3. only where the replicas' digests differ, reads their records (SCANs
     with versions, values raw) and merges them key by key;
  4. writes the newest record where it is missing or older (PUT or DELETE
     carrying its version: a node keeps a newer write it got meanwhile);
  5. records its progress in Consul (zshard/repair) after each chunk: an
     interrupted repair continues where it stopped (--restart starts over).

Replicas that are down are skipped and named in the report; their partitions
are compared among the other replicas. At R=0 there is nothing to compare.
Every node must speak write versions.`,
		Example: `  client_producer repair
  client_producer repair --dry-run
  client_producer repair --max-rate 200000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			cfg := repair.Config{
				Producer: g.producerConfig(stderr),
				DryRun:   dryRun, Restart: restart, Wait: wait,
				MaxRate: maxRate, MaxPartitionRate: maxPartRate, ChunkPartitions: chunk,
				Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			end := func() {}
			if !quiet && !g.JSON {
				cfg.Progress, cfg.ProgressEvery, end = repairProgress(stderr)
			}
			rep, err := repair.Run(cmd.Context(), cfg)
			end()
			if err != nil {
				return err
			}
			return printRepairReport(cmd.OutOrStdout(), g, rep)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&dryRun, "dry-run", false, "compare and count what would be written; write nothing")
	fl.BoolVar(&restart, "restart", false, "start over instead of continuing an interrupted repair")
	fl.BoolVar(&wait, "wait", false, "wait for a running rebalancer or repair to finish instead of exiting")
	fl.IntVar(&maxRate, "max-rate", 0, "make the nodes handle at most this many keys per second (digested, read and written; 0: no bound)")
	fl.IntVar(&maxPartRate, "max-partition-rate", 0, "compare at most this many partitions per second (0: no bound)")
	fl.IntVar(&chunk, "chunk", repair.DefaultChunkPartitions, "partitions compared per round of DIGESTs; progress is recorded after each")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	return cmd
}

// repairProgress returns the progress callback of a repair and its
// period: a line on w, redrawn in place on a terminal; and end, which ends
// a line left open on a terminal (a repair that failed).
func repairProgress(w io.Writer) (progress func(repair.Progress), every time.Duration, end func()) {
	tty := isTerminal(w)
	every = 200 * time.Millisecond
	if !tty {
		every = time.Second
	}
	last, open := "", false
	end = func() {
		if open {
			fmt.Fprintln(w)
		}
	}
	return func(p repair.Progress) {
		if p.Phase == "starting" || p.Partitions == 0 {
			return
		}
		line := repairProgressLine(p)
		if line == last {
			return
		}
		last = line
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
			open = p.Phase != "done"
			if !open {
				fmt.Fprintln(w)
			}
		} else {
			fmt.Fprintln(w, line)
		}
	}, every, end
}

// repairProgressLine renders a progress snapshot: a bar over the
// partitions, the differences so far, rate and ETA.
func repairProgressLine(p repair.Progress) string {
	frac := min(1, float64(p.Done)/float64(max(1, p.Partitions)))
	n := int(frac * 20)
	bar := "[" + strings.Repeat("=", n) + strings.Repeat(" ", 20-n) + "]"
	s := fmt.Sprintf("%-9s %s partitions %d/%d  differing %d  fixed %d", p.Phase, bar, p.Done, p.Partitions, p.Differing, p.Fixed)
	if secs := p.Elapsed.Seconds(); secs > 0 && p.Phase == "comparing" && p.Done > 0 {
		rate := float64(p.Done) / secs
		s += fmt.Sprintf("  %.0f partitions/s", rate)
		if p.Done < p.Partitions {
			s += fmt.Sprintf("  ETA %s", time.Duration(float64(p.Partitions-p.Done)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	return s
}

// printRepairReport prints the outcome of a repair or of a dry run.
func printRepairReport(w io.Writer, g *globalConfig, rep repair.Report) error {
	if g.JSON {
		return printJSON(w, map[string]any{"dry_run": rep.DryRun, "report": rep, "fixed_total": rep.FixedTotal(),
			"elapsed_s": rep.Elapsed.Seconds()})
	}
	verb := map[bool]string{true: "would fix", false: "fixed"}[rep.DryRun]
	switch {
	case rep.DryRun:
		fmt.Fprintln(w, "repair (dry run: nothing written)")
	case rep.Resumed:
		fmt.Fprintf(w, "repair %s (continued an interrupted run)\n", rep.RunID)
	default:
		fmt.Fprintf(w, "repair %s\n", rep.RunID)
	}
	fmt.Fprintf(w, "%d partitions compared, %d differing", rep.Compared, rep.Differing)
	if rep.Partial > 0 {
		fmt.Fprintf(w, ", %d with a replica down", rep.Partial)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(w, "; %d skipped (fewer than 2 replicas up)", rep.Skipped)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s %d keys", verb, rep.FixedTotal())
	if len(rep.Fixed) > 0 {
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(rep.Fixed)) {
			parts = append(parts, fmt.Sprintf("%s %d", n, rep.Fixed[n]))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	if rep.Superseded > 0 {
		fmt.Fprintf(w, "%d writes found a newer version already there (concurrent writes)\n", rep.Superseded)
	}
	if rep.Failed > 0 {
		fmt.Fprintf(w, "%d writes FAILED (see the warnings above); run repair again\n", rep.Failed)
	}
	for _, n := range slices.Sorted(maps.Keys(rep.Down)) {
		fmt.Fprintf(w, "skipped %s: %s; run repair again once it is back\n", n, rep.Down[n])
	}
	rate := 0.0
	if rep.Elapsed > 0 {
		rate = float64(rep.Keys) / rep.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "%d records digested (%.0f/s), %d read from differing partitions; time %s\n",
		rep.Keys, rate, rep.Scanned, rep.Elapsed.Round(time.Millisecond))
	return nil
}

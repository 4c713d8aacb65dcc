package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
)

// This file holds what the cluster subcommands (put, get, getall, delete,
// status, bench) share: opening a producer from the global flags, output
// helpers and a delayed progress bar.

// codec returns the wire codec chosen by --codec.
func (g *globalConfig) codec() protocol.Codec {
	if g.Codec == "msgpack" {
		return protocol.Msgpack
	}
	return protocol.JSON
}

// consistency returns the levels of --consistency and --read-consistency;
// an unknown name is a usage error.
func (g *globalConfig) consistency() (write, read producer.Consistency, err error) {
	for _, f := range []struct {
		flag, v string
		dst     *producer.Consistency
	}{{"--consistency", g.Consistency, &write}, {"--read-consistency", g.ReadConsistency, &read}} {
		if f.v == "" {
			continue
		}
		if *f.dst, err = producer.ParseConsistency(f.v); err != nil {
			return 0, 0, fmt.Errorf("%w: %s: %w", errUsage, f.flag, err)
		}
	}
	return write, read, nil
}

// producerConfig is the producer configuration of the global flags
// (consistency levels the flags do not name take the defaults).
func (g *globalConfig) producerConfig(stderr io.Writer) producer.Config {
	write, read, _ := g.consistency()
	return producer.Config{
		Consul:           g.consulConfig(),
		Settings:         layout.Settings{Algorithm: g.Hash, Replicas: g.Replicas},
		WriteConsistency: write, ReadConsistency: read,
		Codec: g.codec(),
		Curve: g.curve,
		// The library's own warnings would repeat ours; errors still show.
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Static: g.staticMembers(),
	}
}

// staticMembers returns the members of --static, nil without it.
func (g *globalConfig) staticMembers() []consul.Member {
	if g.Static == 0 {
		return nil
	}
	return producer.StaticMembers(g.Static, g.NodeHost, g.BaseRepPort, g.BasePullPort)
}

// openProducer connects to the cluster. The settings stored in Consul win
// over --hash and -R (every producer must place keys identically); when the
// user set either flag and it disagrees, a warning says so. With --static
// the flags are the settings.
func openProducer(cmd *cobra.Command, g *globalConfig, mod ...func(*producer.Config)) (*producer.Producer, error) {
	if _, _, err := g.consistency(); err != nil {
		return nil, err
	}
	cfg := g.producerConfig(cmd.ErrOrStderr())
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	p, err := producer.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	flags := cmd.Flags()
	if !p.Static() && (flags.Changed("hash") || flags.Changed("replicas")) {
		want := cfg.Settings
		got := p.Settings()
		if !flags.Changed("hash") {
			want.Algorithm = got.Algorithm
		}
		if !flags.Changed("replicas") {
			want.Replicas = got.Replicas
		}
		want.Partitions = got.Partitions
		if d := producer.SettingsDiff(want, got); d != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: the cluster's stored settings win over the flags (%s); change them in Consul at zshard/cluster\n", d)
		}
	}
	return p, nil
}

// withProducer opens a producer (openProducer with mod), runs run with it
// and the command's standard output, and closes it.
func withProducer(cmd *cobra.Command, g *globalConfig, run func(p *producer.Producer, out io.Writer) error, mod ...func(*producer.Config)) error {
	p, err := openProducer(cmd, g, mod...)
	if err != nil {
		return err
	}
	defer p.Close()
	return run(p, cmd.OutOrStdout())
}

// producerRun is the body of a command that works on the cluster: the
// command, its arguments, an open producer and the command's standard output.
type producerRun func(cmd *cobra.Command, args []string, p *producer.Producer, out io.Writer) error

// runWithProducer is the RunE of a command whose whole work needs the
// cluster: withProducer (with mod) around run.
func runWithProducer(g *globalConfig, run producerRun, mod ...func(*producer.Config)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return withProducer(cmd, g, func(p *producer.Producer, out io.Writer) error {
			return run(cmd, args, p, out)
		}, mod...)
	}
}

// readOnly makes a command that only reads leave an uninitialised cluster's
// settings alone (it places with its flags until a writer stores them).
func readOnly(c *producer.Config) { c.NoInit = true }

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// displayValue renders a raw value for people: a string as its text,
// anything else as compact JSON.
func displayValue(c protocol.Codec, raw []byte) string {
	j, err := producer.ValueJSON(c, raw)
	if err != nil {
		return fmt.Sprintf("<%d bytes of %s: %v>", len(raw), c, err)
	}
	var s string
	if json.Unmarshal(j, &s) == nil {
		return s
	}
	return string(j)
}

// progress is a progress bar on stderr that appears only once the work has
// taken more than progressDelay, and never with --json or --quiet.
type progress struct {
	w       io.Writer
	total   int64
	desc    string
	start   time.Time
	done    int64
	bar     *progressbar.ProgressBar
	enabled bool
}

const progressDelay = 2 * time.Second

func newProgress(w io.Writer, total int64, desc string, enabled bool) *progress {
	return &progress{w: w, total: total, desc: desc, start: time.Now(), enabled: enabled}
}

// Add records n more units done; call it from one goroutine.
func (p *progress) Add(n int) {
	p.done += int64(n)
	if !p.enabled {
		return
	}
	if p.bar == nil {
		if time.Since(p.start) < progressDelay {
			return
		}
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		_ = p.bar.Set64(p.done)
		return
	}
	_ = p.bar.Add(n)
}

// Finish clears the bar.
func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

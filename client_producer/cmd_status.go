package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/producer"
)

func newStatusCmd(g *globalConfig) *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster: settings, members, health and keys per node",
		Long: `status prints the cluster settings stored in Consul, or with --static the
flags (algorithm, partitions, replication factor R, layout epoch, the
members of the layout) and, for every
node, whether it answers a STATS request, how many keys it stores, the share
of partitions it owns as first choice, the round trip, and its endpoints. A
member that does not pass its Consul health check is shown DOWN: it keeps its
keys (reads fall back to its other replicas, writes need a quorum of them)
until it comes back or is removed. A node that registered without being added
shows "not a member" and holds no keys until add-node adds it. It exits with
status 1 when a member is down or does not answer.

The settings stored in Consul are the cluster's: the first producer stores
them from its --hash and -R, and every later one uses them (with a warning if
its flags differ), so that all producers place every key identically.

With --watch it refreshes a table every second (--interval) until Ctrl-C:
per node its health, keys, operations per second and the p99 of its request
durations, read from the node's Prometheus metrics (the URL in its Consul
Meta "metrics"; a node without shows its STATS keys only), so that a
benchmark or a rebalance can be watched. On a terminal each table replaces
the last; otherwise the tables follow one another (with --json, one line of
JSON per refresh).`,
		Example: `  client_producer status
  client_producer --json status
  client_producer status --watch`,
		Args: cobra.NoArgs,
		RunE: runWithProducer(g, func(cmd *cobra.Command, _ []string, p *producer.Producer, out io.Writer) error {
			if watch {
				if interval <= 0 {
					return fmt.Errorf("%w: --interval %v: want a positive duration", errUsage, interval)
				}
				return watchStatus(cmd.Context(), p, out, g.JSON, interval)
			}
			st, err := p.Status(cmd.Context())
			if err != nil {
				return err
			}
			unhealthy := 0
			for _, n := range st.Nodes {
				if !n.Healthy {
					unhealthy++
				}
			}
			if g.JSON {
				doc := map[string]any{"consul": g.Consul, "settings": st.Settings, "settings_stored": st.SettingsStored, "nodes": st.Nodes}
				if p.Static() {
					delete(doc, "consul")
					doc["static"] = g.Static
				}
				if err := printJSON(out, doc); err != nil {
					return err
				}
			} else {
				s := st.Settings
				source := "consul " + g.Consul
				if p.Static() {
					source = fmt.Sprintf("static %d nodes", g.Static)
				}
				fmt.Fprintf(out, "%s   algorithm %s   R=%d   partitions %d", source, s.Algorithm, s.Replicas, s.Partitions)
				if s.VNodes != 0 {
					fmt.Fprintf(out, "   vnodes %d", s.VNodes)
				}
				fmt.Fprintf(out, "   epoch %d\n", s.Epoch)
				printLayout(cmd.Context(), out, g, s)
				if !st.SettingsStored && !p.Static() {
					fmt.Fprintln(out, "(no settings stored in Consul yet: these are the flags; the first put or delete stores them)")
				}
				fmt.Fprintln(out)
				if len(st.Nodes) == 0 {
					fmt.Fprintln(out, "no passing member: start nodes with `server_consumer N`")
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tHEALTH\tKEYS\tOWNS\tRTT\tREQUEST\tINGEST")
				var keys int64
				for _, n := range st.Nodes {
					health := "ok"
					switch {
					case !n.Passing:
						health = "DOWN"
					case !n.Healthy:
						health = "NO ANSWER"
					case !n.Member:
						health = "not a member"
					}
					share := 100 * float64(n.Partitions) / float64(max(1, s.Partitions))
					fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f%%\t%s\t%s\t%s\n", n.Name, health, n.Keys, share,
						n.RTT.Round(10*time.Microsecond), n.RepURL, n.PullURL)
					keys += n.Keys
				}
				_ = tw.Flush()
				fmt.Fprintf(out, "\n%d members, %d stored copies (about %d keys with R=%d)\n",
					len(st.Nodes), keys, keys/int64(s.Replicas+1), s.Replicas)
				for _, n := range st.Nodes {
					switch {
					case !n.Healthy:
						fmt.Fprintf(out, "%s: %s\n", n.Name, n.Error)
					case !n.Member:
						fmt.Fprintf(out, "%s: registered but not in the layout; `client_producer add-node %s` gives it its keys\n", n.Name, n.Name)
					}
				}
			}
			if unhealthy > 0 {
				return fmt.Errorf("%d of %d nodes are down or did not answer", unhealthy, len(st.Nodes))
			}
			return nil
		}, readOnly),
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh every --interval until Ctrl-C, with operations per second and p99 per node from their metrics")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "with --watch, the time between two refreshes")
	return cmd
}

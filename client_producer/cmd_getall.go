package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
)

func newGetAllCmd(g *globalConfig) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "getall",
		Short: "Print every key and value of the cluster (paged SCAN of every node)",
		Long: `getall reads the whole store from every node with paged SCAN requests and
prints each key once (replicas are merged), sorted by key: "key<TAB>value"
per line, or with --json one object {"status":"OK","collection":[{"key":..,
"value":..},...]} like the class GET_ALL reply. If a node cannot be read
the keys of the others are still printed and the command exits with status 1;
with R replicas and at most R unreadable nodes nothing is missing.`,
		Example: `  client_producer getall
  client_producer --json getall > dump.json`,
		Args: cobra.NoArgs,
		RunE: runWithProducer(g, func(cmd *cobra.Command, _ []string, p *producer.Producer, out io.Writer) error {
			c := p.Codec()
			bar := newProgress(cmd.ErrOrStderr(), -1, "reading", !g.JSON && !quiet && isTerminal(cmd.ErrOrStderr()))
			var entries []protocol.Entry
			scanErr := p.Scan(cmd.Context(), func(k string, v []byte) error {
				entries = append(entries, protocol.Entry{Key: k, Value: v})
				bar.Add(1)
				return nil
			})
			bar.Finish()
			sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
			w := bufio.NewWriterSize(out, 1<<16)
			if g.JSON {
				if err := writeCollection(w, c, entries); err != nil {
					return err
				}
			} else {
				for _, e := range entries {
					fmt.Fprintf(w, "%s\t%s\n", e.Key, displayValue(c, e.Value))
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if !g.JSON && !quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d keys\n", len(entries))
			}
			return scanErr
		}, readOnly),
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no key count and no progress bar on stderr")
	return cmd
}

// writeCollection writes the class GET_ALL reply shape, one entry at a time.
func writeCollection(w *bufio.Writer, c protocol.Codec, entries []protocol.Entry) error {
	_, _ = w.WriteString(`{"status":"OK","collection":[`)
	for i, e := range entries {
		if i > 0 {
			_ = w.WriteByte(',')
		}
		v, err := producer.ValueJSON(c, e.Value)
		if err != nil {
			return fmt.Errorf("key %q: %w", e.Key, err)
		}
		b, err := json.Marshal(struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}{e.Key, v})
		if err != nil {
			return err
		}
		_, _ = w.Write(b)
	}
	_, err := w.WriteString("]}\n")
	return err
}

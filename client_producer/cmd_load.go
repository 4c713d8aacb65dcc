package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
)

// loadSyncEvery bounds how much is in flight before a SYNC barrier: a node
// that fails loses at most this many operations, and they are reported.
const loadSyncEvery = 100_000

func newLoadCmd(g *globalConfig) *cobra.Command {
	var (
		keys      int
		valueSize int
		prefix    string
	)
	cmd := &cobra.Command{
		Use:   "load [FILE]",
		Short: "Bulk-load keys through the nodes' ingest endpoints (PUSH + SYNC barriers)",
		Long: `load writes many keys fast: every PUT is batched per replica node and pushed
to the node's ingest endpoint (ZeroMQ PUSH/PULL, fire and forget), and a SYNC
barrier on every node every 100000 keys and at the end confirms that all of
them were applied. It exits non-zero if any node did not confirm.

The keys come from FILE (or standard input with "-"), one JSON object per
line, {"key":"k","value":<any JSON value>}; or, with --keys N, they are
generated: <prefix><i> for i in 0..N-1, each with a --value-size byte string.`,
		Example: `  client_producer load --keys 100000 --value-size 100
  client_producer load data.jsonl
  generate | client_producer --codec msgpack load -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (keys > 0) {
				return fmt.Errorf("give either FILE or --keys N")
			}
			if valueSize < 0 {
				return fmt.Errorf("--value-size %d: want 0 or more", valueSize)
			}
			next, total, closeSrc, err := loadSource(cmd.InOrStdin(), args, keys, valueSize, prefix, g.codec())
			if err != nil {
				return err
			}
			defer closeSrc()

			p, err := openProducer(cmd, g)
			if err != nil {
				return err
			}
			defer p.Close()
			b, err := p.NewBulk()
			if err != nil {
				return err
			}
			defer b.Close()

			ctx := cmd.Context()
			bar := newProgress(cmd.ErrOrStderr(), total, "loading", !g.JSON && isTerminal(cmd.ErrOrStderr()))
			start := time.Now()
			n := 0
			for {
				key, value, ok, err := next()
				if err != nil {
					return fmt.Errorf("after %d keys: %w", n, err)
				}
				if !ok {
					break
				}
				if err := b.Put(ctx, key, value); err != nil {
					return err
				}
				n++
				bar.Add(1)
				if n%loadSyncEvery == 0 {
					if err := b.Sync(ctx); err != nil {
						return fmt.Errorf("after %d keys: %w", n, err)
					}
				}
			}
			if err := b.Sync(ctx); err != nil {
				return fmt.Errorf("after %d keys: %w", n, err)
			}
			bar.Finish()
			elapsed := time.Since(start)
			rate := float64(n) / max(elapsed.Seconds(), 1e-9)
			if g.JSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"status": "OK", "keys": n, "seconds": elapsed.Seconds(), "ops_per_sec": rate,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "loaded %d keys in %v (%.0f keys/s), confirmed by every node's SYNC barrier\n",
				n, elapsed.Round(time.Millisecond), rate)
			return nil
		},
	}
	cmd.Flags().IntVar(&keys, "keys", 0, "generate N keys instead of reading FILE")
	cmd.Flags().IntVar(&valueSize, "value-size", 100, "with --keys: bytes of each generated string value")
	cmd.Flags().StringVar(&prefix, "prefix", "key-", "with --keys: prefix of the generated keys")
	return cmd
}

// loadSource returns an iterator over the keys to load (value already
// encoded in codec c), the total when known (-1 otherwise) and a closer.
func loadSource(stdin io.Reader, args []string, keys, valueSize int, prefix string, c protocol.Codec) (
	next func() (key string, value []byte, ok bool, err error), total int64, closeFn func(), err error) {
	if keys > 0 {
		value, err := producer.EncodeValue(c, strings.Repeat("x", valueSize))
		if err != nil {
			return nil, 0, nil, err
		}
		i := 0
		return func() (string, []byte, bool, error) {
			if i == keys {
				return "", nil, false, nil
			}
			i++
			return fmt.Sprintf("%s%d", prefix, i-1), value, true, nil
		}, int64(keys), func() {}, nil
	}
	in, closeFn := stdin, func() {}
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, 0, nil, err
		}
		in, closeFn = f, func() { f.Close() }
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), protocol.DefaultMaxMessageBytes)
	line := 0
	return func() (string, []byte, bool, error) {
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			var rec struct {
				Key   *string         `json:"key"`
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal([]byte(text), &rec); err != nil {
				return "", nil, false, fmt.Errorf("line %d: %w", line, err)
			}
			if rec.Key == nil || *rec.Key == "" || rec.Value == nil {
				return "", nil, false, fmt.Errorf(`line %d: want {"key":"...","value":...} with a non-empty key`, line)
			}
			value, err := protocol.ConvertValue(rec.Value, protocol.JSON, c)
			if err != nil {
				return "", nil, false, fmt.Errorf("line %d: %w", line, err)
			}
			return *rec.Key, value, true, nil
		}
		return "", nil, false, sc.Err()
	}, -1, closeFn, nil
}

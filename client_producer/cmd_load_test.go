package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/testcluster"
)

func TestLoadCommand(t *testing.T) {
	c := testcluster.StartConsul(t)
	startNodes(t, c.Addr, 3)
	for _, codec := range []string{"json", "msgpack"} {
		t.Run(codec, func(t *testing.T) {
			g := []string{"--consul", c.Addr, "--codec", codec, "-R", "1"}
			_, err := c.Client.KV().DeleteTree("zshard/", nil)
			require.NoError(t, err)

			// Generated keys.
			out, _, err := run2(t, append(g, "--json", "load", "--keys", "2500", "--value-size", "10", "--prefix", codec+"-gen-")...)
			require.NoError(t, err)
			var rep struct{ Keys int }
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			require.Equal(t, 2500, rep.Keys)

			// Keys from a JSON-lines file, values of any JSON type.
			var lines []string
			for i := range 300 {
				lines = append(lines, fmt.Sprintf(`{"key":"%s-file-%d","value":{"n":%d,"tags":["a","b"]}}`, codec, i, i))
			}
			file := filepath.Join(t.TempDir(), "keys.jsonl")
			require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n\n"), 0o644))
			_, _, err = run2(t, append(g, "load", file)...)
			require.NoError(t, err)

			out, _, err = run2(t, append(g, "--json", "getall")...)
			require.NoError(t, err)
			var all struct {
				Collection []struct {
					Key   string
					Value json.RawMessage
				}
			}
			require.NoError(t, json.Unmarshal([]byte(out), &all))
			got := map[string]string{}
			for _, e := range all.Collection {
				if strings.HasPrefix(e.Key, codec+"-") { // the other subtest's keys are there too
					got[e.Key] = string(e.Value)
				}
			}
			require.Len(t, got, 2800, "every loaded key once in GET_ALL")
			require.Equal(t, `"xxxxxxxxxx"`, got[codec+"-gen-2499"])
			var v struct {
				N    int
				Tags []string
			}
			require.NoError(t, json.Unmarshal([]byte(got[codec+"-file-299"]), &v))
			require.Equal(t, 299, v.N)
			require.Equal(t, []string{"a", "b"}, v.Tags)
		})
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not-json":  "hello\n",
		"no-key":    `{"value":1}` + "\n",
		"empty-key": `{"key":"","value":1}` + "\n",
		"no-value":  `{"key":"k"}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
			next, _, closeFn, err := loadSource(nil, []string{file}, 0, 0, "", 1)
			require.NoError(t, err)
			defer closeFn()
			_, _, _, err = next()
			require.ErrorContains(t, err, "line 1")
		})
	}
	_, _, err := run2(t, "load")
	require.ErrorContains(t, err, "either FILE or --keys")
}

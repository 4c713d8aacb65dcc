package labcheck

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = "# Guide\n" +
	"\n" +
	"<!-- lab-check: skip -->\n" +
	"```console\n" +
	"$ make build\n" +
	"```\n" +
	"\n" +
	"```sh\n" +
	"$ not a lab command\n" +
	"```\n" +
	"<!-- lab-check: background -->\n" +
	"```console\n" +
	"$ bin/server_consumer 4\n" +
	"READY node-0\n" +
	"```\n" +
	"<!-- lab-check: mask ^n=(\\d+) -->\n" +
	"```console\n" +
	"$ echo a \\\n" +
	"  b\n" +
	"a b\n" +
	"$ true\n" +
	"```\n" +
	"<!-- lab-check: ctrl-c server_consumer 4 -->\n" +
	"<!-- lab-check: wait-passing node-1 node-2 -->\n" +
	"end\n"

func TestParseGuide(t *testing.T) {
	lines := strings.Split(sample, "\n")
	acts, err := ParseGuide(lines)
	require.NoError(t, err)
	require.Len(t, acts, 5)

	assert.True(t, acts[0].Block.Skip)
	assert.Equal(t, []Step{{Cmd: "make build"}}, acts[0].Block.Steps)

	bg := acts[1].Block
	assert.True(t, bg.Background)
	assert.Equal(t, []Step{{Cmd: "bin/server_consumer 4", Want: []string{"READY node-0"}}}, bg.Steps)

	b := acts[2].Block
	assert.False(t, b.Skip || b.Background)
	require.Len(t, b.Masks, 1)
	assert.Equal(t, []Step{{Cmd: "echo a \\\n  b", Want: []string{"a b"}}, {Cmd: "true"}}, b.Steps)
	assert.Equal(t, 18, b.Line)

	assert.Equal(t, Action{Directive: "ctrl-c", Arg: "server_consumer 4", Line: 23}, acts[3])
	assert.Equal(t, Action{Directive: "wait-passing", Arg: "node-1 node-2", Line: 24}, acts[4])
}

func TestParseGuideErrors(t *testing.T) {
	for name, guide := range map[string]string{
		"unknown directive":        "<!-- lab-check: frobnicate -->\n",
		"bad mask":                 "<!-- lab-check: mask ( -->\n```console\n$ x\n```\n",
		"directive before sh":      "<!-- lab-check: skip -->\n```sh\n$ x\n```\n",
		"directive without block":  "<!-- lab-check: background -->\ntext\n",
		"output before a command":  "```console\nout\n$ x\n```\n",
		"unclosed block":           "```console\n$ x\n",
		"ctrl-c without a command": "<!-- lab-check: ctrl-c -->\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseGuide(strings.Split(guide, "\n"))
			assert.Error(t, err)
		})
	}
}

func TestRewrite(t *testing.T) {
	lines := strings.Split(sample, "\n")
	acts, err := ParseGuide(lines)
	require.NoError(t, err)
	b := acts[2].Block
	got := Rewrite(lines, acts, map[*Block][][]string{b: {{"a b", "[exit status 1]"}, nil}})
	want := strings.Replace(sample, "a b\n$ true\n", "a b\n[exit status 1]\n$ true\n", 1)
	assert.Equal(t, want, got)

	// Rewriting with the outputs the guide shows changes nothing.
	same := map[*Block][][]string{b: {b.Steps[0].Want, b.Steps[1].Want}}
	assert.Equal(t, sample, Rewrite(lines, acts, same))
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"loaded 10000 keys in 121ms (82939 keys/s), confirmed", "loaded 10000 keys in ~ (~), confirmed"},
		{"copy 375ms (5302 keys/s), verify 1.161s, total 1m2.5s", "copy ~ (~), verify ~, total ~"},
		{"node-1  ok      1935  19.2%  75.21ms  tcp://127.0.0.1:2001", "node-1 ok 1935 19.2% ~ tcp://127.0.0.1:2001"},
		{"node-1  ok      1935  19.2%  530µs    tcp://127.0.0.1:2001", "node-1 ok 1935 19.2% ~ tcp://127.0.0.1:2001"},
		{"2026-11-21T17:02:46.061Z [INFO]  agent: Synced node info", "~ [INFO] agent: Synced node info"},
		{`time=2026-11-21T16:59:21.821Z level=INFO msg="node launched" pid=23972`, `~ level=INFO msg="node launched" ~`},
		// Not durations: counts, node names, versions.
		{"4 members, 10002 stored copies (about 10002 keys with R=0)", "4 members, 10002 stored copies (about 10002 keys with R=0)"},
		{"  node-0->node-4           12923 partitions", "node-0->node-4 12923 partitions"},
	} {
		assert.Equal(t, tc.want, Mask(tc.in, DefaultMasks), tc.in)
	}
	groups := []*regexp.Regexp{regexp.MustCompile(`^\s*table\s+\d+\s+(\S+)\s+\S+\s+(\S+)`)}
	assert.Equal(t, "table 4 ~ 0 ~ 1.024", Mask("   table      4    114.7   0   171.1   1.024", groups))
}

func TestNormalizeAndSplit(t *testing.T) {
	assert.Nil(t, SplitOutput(""))
	assert.Nil(t, SplitOutput("\n"))
	assert.Equal(t, []string{"a", "done [====]", "", "b"}, SplitOutput("a  \ncopying [=]\rdone [====]\r\n\nb\n"))
	assert.Equal(t, []string{"a b", "c"}, Normalize([]string{" a   b ", "c", "", " "}, nil))
}

func TestPorts(t *testing.T) {
	p := Ports{8500: 20010, 2000: 20000, 2100: 20100}
	cmd := "curl http://127.0.0.1:8500/v1 --endpoint tcp://127.0.0.1:2000 tcp://127.0.0.1:2999"
	private := p.ToPrivate(cmd)
	assert.Equal(t, "curl http://127.0.0.1:20010/v1 --endpoint tcp://127.0.0.1:20000 tcp://127.0.0.1:2999", private)
	assert.Equal(t, cmd, p.ToGuide(private))
	assert.Equal(t, "READY node-0 tcp://127.0.0.1:2000 tcp://127.0.0.1:2100",
		p.ToGuide("READY node-0 tcp://127.0.0.1:20000 tcp://127.0.0.1:20100"))
}

//go:build lab

package labcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rerun the guide and write the real outputs and plots into docs/")

const (
	commandTimeout = 10 * time.Minute // one foreground command
	appearTimeout  = 90 * time.Second // a background command's shown output
	stopTimeout    = 60 * time.Second // a background command after SIGINT/SIGTERM
)

// ---- the guide --------------------------------------------------------------

// step is one command of a console block and the output shown after it.
type step struct {
	cmd  string
	want []string
}

// block is a ```console block with the directives written before it.
type block struct {
	start, end int // lines of the opening and the closing fence
	line       int // 1-based line of the first command, for messages
	skip       bool
	background bool
	masks      []*regexp.Regexp
	steps      []step
}

// action is a standalone directive (ctrl-c, wait-passing) or a block, in
// document order.
type action struct {
	directive, arg string
	line           int
	block          *block
}

var directiveRE = regexp.MustCompile(`^<!--\s*lab-check:\s*(\S+)\s*(.*?)\s*-->\s*$`)

func parseGuide(t *testing.T, lines []string) []action {
	t.Helper()
	var (
		acts    []action
		pending block
	)
	for i := 0; i < len(lines); i++ {
		if m := directiveRE.FindStringSubmatch(lines[i]); m != nil {
			switch m[1] {
			case "skip":
				pending.skip = true
			case "background":
				pending.background = true
			case "mask":
				pending.masks = append(pending.masks, regexp.MustCompile(m[2]))
			case "ctrl-c", "wait-passing":
				acts = append(acts, action{directive: m[1], arg: m[2], line: i + 1})
			default:
				t.Fatalf("LAB.md:%d: unknown directive %q", i+1, m[1])
			}
			continue
		}
		fence := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(fence, "```") {
			continue
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		require.Less(t, end, len(lines), "LAB.md:%d: unclosed code block", i+1)
		if fields := strings.Fields(strings.TrimPrefix(fence, "```")); len(fields) == 0 || fields[0] != "console" {
			i = end
			continue
		}
		b := pending
		pending = block{}
		b.start, b.end = i, end
		for j := i + 1; j < end; j++ {
			l := lines[j]
			if cmd, ok := strings.CutPrefix(l, "$ "); ok {
				if b.line == 0 {
					b.line = j + 1
				}
				for strings.HasSuffix(cmd, "\\") && j+1 < end {
					j++
					cmd += "\n" + lines[j]
				}
				b.steps = append(b.steps, step{cmd: cmd})
				continue
			}
			require.NotEmpty(t, b.steps, "LAB.md:%d: output before the first command of a console block", j+1)
			b.steps[len(b.steps)-1].want = append(b.steps[len(b.steps)-1].want, l)
		}
		acts = append(acts, action{block: &b, line: i + 1})
		i = end
	}
	return acts
}

// ---- masking and port mapping -------------------------------------------------

// Volatile parts of any output: log timestamps, pids, rates, durations.
var defaultMasks = []*regexp.Regexp{
	regexp.MustCompile(`time=\S+`),
	regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?`),
	regexp.MustCompile(`pid=\d+`),
	regexp.MustCompile(`\d[\d.]*\s*[kKM]?(?:keys|ops|msg|B|KiB|MiB)?/s\b`),
	regexp.MustCompile(`\b\d[\d.]*(?:ms|µs|us|ns|h|m|s)(?:\d[\d.]*(?:ms|µs|us|ns|m|s))*\b`),
}

func mask(line string, res []*regexp.Regexp) string {
	for _, re := range res {
		line = re.ReplaceAllStringFunc(line, func(m string) string {
			sub := re.FindStringSubmatchIndex(m)
			if len(sub) <= 2 {
				return "~"
			}
			var b strings.Builder
			last := 0
			for g := 2; g < len(sub); g += 2 {
				if sub[g] < 0 {
					continue
				}
				b.WriteString(m[last:sub[g]])
				b.WriteString("~")
				last = sub[g+1]
			}
			b.WriteString(m[last:])
			return b.String()
		})
	}
	return strings.Join(strings.Fields(line), " ")
}

func normalize(lines []string, res []*regexp.Regexp) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, mask(l, res))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

var portRE = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// ports maps the guide's default ports to the checker's private ones.
type ports map[int]int

func (p ports) apply(s string, m map[int]int) string {
	return portRE.ReplaceAllStringFunc(s, func(hit string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(hit, "127.0.0.1:"))
		if to, ok := m[n]; ok {
			return "127.0.0.1:" + strconv.Itoa(to)
		}
		return hit
	})
}

func (p ports) toPrivate(s string) string { return p.apply(s, p) }

func (p ports) toGuide(s string) string {
	rev := map[int]int{}
	for k, v := range p {
		rev[v] = k
	}
	return p.apply(s, rev)
}

// freePorts returns a base port B with B..B+9 and B+100..B+109 free, for
// node-i's request (B+i) and ingest (B+100+i) ports.
func freeBase(t *testing.T) int {
	t.Helper()
	for base := 11000 + int(time.Now().UnixNano()%19000); ; base = 11000 + (base-11000+211)%19000 {
		var ls []net.Listener
		ok := true
		for _, off := range []int{0, 100} {
			for i := range 10 {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off+i))
				if err != nil {
					ok = false
					break
				}
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
}

func freePort(t *testing.T, taken map[int]bool) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !taken[p] {
			taken[p] = true
			return p
		}
	}
}

// ---- running -------------------------------------------------------------------

// lockedBuffer collects a background command's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type bg struct {
	cmd  string
	proc *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// lab is one run of the guide.
type lab struct {
	t        *testing.T
	dir      string // the working directory: bin/, docs/lab/client.py
	env      []string
	ports    ports
	consul   string // private agent's HTTP address
	bgs      []*bg
	failures int
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func setup(t *testing.T, root string) *lab {
	t.Helper()
	consulBin, err := filepath.Abs(filepath.Join(root, "bin", "consul"))
	require.NoError(t, err)
	_, err = os.Stat(consulBin)
	require.NoError(t, err, "bin/consul missing: run make tools")
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Fatal("/usr/bin/python3 missing (apt-get install python3-zmq)")
	}

	dir := t.TempDir()
	real := filepath.Join(dir, ".real")
	build := exec.Command("go", "build", "-o", real+"/", "./server_consumer", "./client_producer")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	taken := map[int]bool{}
	base := freeBase(t)
	for i := range 10 {
		taken[base+i], taken[base+100+i] = true, true
	}
	httpPort := freePort(t, taken)
	serfPort := freePort(t, taken)
	serverPort := freePort(t, taken)
	p := ports{8500: httpPort}
	for i := range 10 {
		p[2000+i] = base + i
		p[2100+i] = base + 100 + i
	}

	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	require.NoError(t, os.Symlink(filepath.Join(real, "client_producer"), filepath.Join(bin, "client_producer")))
	write := func(name, script string) {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	write("server_consumer", fmt.Sprintf(`#!/bin/sh
# lab-check: node-i on private ports instead of 2000+i/2100+i
exec %q "$@" --base-rep-port %d --base-pull-port %d
`, filepath.Join(real, "server_consumer"), base, base+100))
	write("consul", fmt.Sprintf(`#!/bin/sh
# lab-check: the agent on private ports instead of 8500 and friends
if [ "$1" = agent ]; then
	exec %q "$@" -http-port %d -serf-lan-port %d -server-port %d -serf-wan-port -1 -dns-port -1 -grpc-port -1 -grpc-tls-port -1
fi
exec %q "$@"
`, consulBin, httpPort, serfPort, serverPort, consulBin))

	docs := filepath.Join(dir, "docs", "lab")
	require.NoError(t, os.MkdirAll(docs, 0o755))
	client, err := os.ReadFile(filepath.Join(root, "docs", "lab", "client.py"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(docs, "client.py"), client, 0o755))

	l := &lab{
		t: t, dir: dir, ports: p, consul: "127.0.0.1:" + strconv.Itoa(httpPort),
		env: append(os.Environ(),
			"CONSUL_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
			"ZSHARD_BASE_PORT="+strconv.Itoa(base),
			"COLUMNS=200", "NO_COLOR=1", "LC_ALL=C.UTF-8"),
	}
	t.Logf("lab in %s: Consul on %s, node-i on %d+i and %d+i", dir, l.consul, base, base+100)
	t.Cleanup(l.stopAll)
	return l
}

func (l *lab) command(ctx context.Context, cmd string) *exec.Cmd {
	// As typed into an interactive shell: no pipefail (head closing a pipe
	// is not a failure).
	c := exec.CommandContext(ctx, "bash", "-c", l.ports.toPrivate(cmd))
	c.Dir = l.dir
	c.Env = l.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	return c
}

// run runs a foreground command and returns its output lines as the guide
// shows them: ports mapped back, an "[exit status N]" line on failure.
func (l *lab) run(cmd string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := l.command(ctx, cmd)
	var out lockedBuffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	lines := splitLines(l.ports.toGuide(out.String()))
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		l.t.Fatalf("%s: no exit within %s; output:\n%s", cmd, commandTimeout, out.String())
	case errors.As(err, &ee):
		lines = append(lines, fmt.Sprintf("[exit status %d]", ee.ExitCode()))
	case err != nil:
		l.t.Fatalf("%s: %v", cmd, err)
	}
	return lines
}

func splitLines(s string) []string {
	// A progress line redrawn with \r shows as its last state.
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if i := strings.LastIndex(strings.TrimRight(l, "\r"), "\r"); i >= 0 {
			l = l[i+1:]
		}
		out = append(out, strings.TrimRight(l, " \r"))
	}
	if len(out) == 1 && out[0] == "" {
		return nil
	}
	return out
}

func (l *lab) start(cmd string) *bg {
	c := l.command(context.Background(), cmd)
	b := &bg{cmd: cmd, proc: c, out: &lockedBuffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = b.out, b.out
	require.NoError(l.t, c.Start(), cmd)
	go func() { _ = c.Wait(); close(b.done) }()
	l.bgs = append(l.bgs, b)
	return b
}

// stop signals a background command's process group and waits for it.
func (l *lab) stop(b *bg, sig syscall.Signal) {
	_ = syscall.Kill(-b.proc.Process.Pid, sig)
	select {
	case <-b.done:
	case <-time.After(stopTimeout):
		l.t.Errorf("%s: still running %s after %v; killing it", b.cmd, stopTimeout, sig)
		_ = syscall.Kill(-b.proc.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
	l.bgs = slices.DeleteFunc(l.bgs, func(x *bg) bool { return x == b })
}

// stopAll stops what is still running, newest first (nodes before Consul).
func (l *lab) stopAll() {
	for len(l.bgs) > 0 {
		l.stop(l.bgs[len(l.bgs)-1], syscall.SIGTERM)
	}
}

// passing returns the sorted IDs of the registered and of the passing
// instances of service zshard.
func (l *lab) members() (registered, passing []string, err error) {
	for _, only := range []bool{false, true} {
		url := "http://" + l.consul + "/v1/health/service/zshard"
		if only {
			url += "?passing"
		}
		resp, err := http.Get(url)
		if err != nil {
			return nil, nil, err
		}
		var entries []struct{ Service struct{ ID string } }
		err = json.NewDecoder(resp.Body).Decode(&entries)
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.Service.ID)
		}
		slices.Sort(ids)
		if only {
			passing = ids
		} else {
			registered = ids
		}
	}
	return registered, passing, nil
}

// ---- the test ------------------------------------------------------------------

// TestLab runs docs/LAB.md (see the package comment).
func TestLab(t *testing.T) {
	root := repoRoot(t)
	guide := filepath.Join(root, "docs", "LAB.md")
	raw, err := os.ReadFile(guide)
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	acts := parseGuide(t, lines)
	l := setup(t, root)

	got := map[*block][][]string{} // block -> each step's real output
	for _, a := range acts {
		switch {
		case a.directive == "ctrl-c":
			i := slices.IndexFunc(l.bgs, func(b *bg) bool { return strings.Contains(b.cmd, a.arg) })
			require.GreaterOrEqual(t, i, 0, "LAB.md:%d: no running command contains %q", a.line, a.arg)
			t.Logf("LAB.md:%d: Ctrl-C %s", a.line, l.bgs[i].cmd)
			l.stop(l.bgs[i], syscall.SIGINT)
		case a.directive == "wait-passing":
			want := strings.Fields(a.arg)
			slices.Sort(want)
			deadline := time.Now().Add(appearTimeout)
			for {
				reg, pass, err := l.members()
				if err == nil && slices.Equal(reg, want) && slices.Equal(pass, want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("LAB.md:%d: want exactly %v passing; registered %v, passing %v (%v)", a.line, want, reg, pass, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		case a.block.skip:
			for _, s := range a.block.steps {
				t.Logf("LAB.md:%d: skipped: %s", a.block.line, s.cmd)
			}
		case a.block.background:
			l.runBackground(a.block)
		default:
			got[a.block] = l.runBlock(a.block)
		}
	}

	l.checkPlots(root, string(raw))
	if *update {
		rewrite(t, guide, lines, got)
		return
	}
	if l.failures > 0 {
		t.Fatalf("%d commands of LAB.md show other output than they print; rerun with make lab-update if the change is intended", l.failures)
	}
}

func (l *lab) runBackground(b *block) {
	t := l.t
	for _, s := range b.steps {
		t.Logf("LAB.md:%d: started in the background: %s", b.line, s.cmd)
		p := l.start(s.cmd)
		res := append(slices.Clone(defaultMasks), b.masks...)
		want := normalize(s.want, res)
		deadline := time.Now().Add(appearTimeout)
		for {
			have := normalize(splitLines(l.ports.toGuide(p.out.String())), res)
			var missing []string
			for _, w := range want {
				if !slices.Contains(have, w) {
					missing = append(missing, w)
				}
			}
			if len(missing) == 0 {
				break
			}
			select {
			case <-p.done:
				t.Fatalf("LAB.md:%d: %s exited; missing output %q; output:\n%s", b.line, s.cmd, missing, p.out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("LAB.md:%d: %s: within %s, no output %q; output:\n%s", b.line, s.cmd, appearTimeout, missing, p.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (l *lab) runBlock(b *block) [][]string {
	t := l.t
	res := append(slices.Clone(defaultMasks), b.masks...)
	var outs [][]string
	for _, s := range b.steps {
		start := time.Now()
		out := l.run(s.cmd)
		t.Logf("LAB.md:%d: $ %s (%s, %d lines)", b.line, s.cmd, time.Since(start).Round(time.Millisecond), len(out))
		outs = append(outs, out)
		if *update {
			continue
		}
		want, have := normalize(s.want, res), normalize(out, res)
		if !slices.Equal(want, have) {
			l.failures++
			t.Errorf("LAB.md:%d: $ %s\n%s", b.line, s.cmd, diff(want, have))
		}
	}
	return outs
}

// diff shows the masked lines side by side from the first difference.
func diff(want, have []string) string {
	i := 0
	for i < len(want) && i < len(have) && want[i] == have[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at output line %d (masked, whitespace collapsed)\n", i+1)
	for j := i; j < max(len(want), len(have)) && j < i+15; j++ {
		var w, h string
		if j < len(want) {
			w = want[j]
		}
		if j < len(have) {
			h = have[j]
		}
		mark := " "
		if w != h {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s LAB.md: %s\n%s   real: %s\n", mark, w, mark, h)
	}
	return b.String()
}

var imageRE = regexp.MustCompile(`!\[[^\]]*\]\((lab/[^)]+)\)`)

// checkPlots checks that every image the guide shows under docs/lab was made
// by the run and is committed; with -update it copies the run's plots.
func (l *lab) checkPlots(root, guide string) {
	t := l.t
	for _, m := range imageRE.FindAllStringSubmatch(guide, -1) {
		made := filepath.Join(l.dir, "docs", m[1])
		committed := filepath.Join(root, "docs", m[1])
		data, err := os.ReadFile(made)
		if err != nil {
			t.Errorf("LAB.md shows %s, which the commands did not make: %v", m[1], err)
			continue
		}
		if *update {
			require.NoError(t, os.WriteFile(committed, data, 0o644))
			continue
		}
		if _, err := os.Stat(committed); err != nil {
			t.Errorf("LAB.md shows %s, which is not in docs/: %v (make lab-update)", m[1], err)
		}
	}
}

// rewrite writes each block's commands followed by their real output.
func rewrite(t *testing.T, path string, lines []string, got map[*block][][]string) {
	t.Helper()
	blocks := slices.Collect(func(yield func(*block) bool) {
		for b := range got {
			if !yield(b) {
				return
			}
		}
	})
	slices.SortFunc(blocks, func(a, b *block) int { return a.start - b.start })
	var out []string
	next := 0
	for _, b := range blocks {
		out = append(out, lines[next:b.start+1]...)
		for i, s := range b.steps {
			out = append(out, "$ "+s.cmd)
			out = append(out, got[b][i]...)
		}
		next = b.end
	}
	out = append(out, lines[next:]...)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644))
	t.Logf("wrote the real outputs of %d blocks into %s", len(blocks), path)
}

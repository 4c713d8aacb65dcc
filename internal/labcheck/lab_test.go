//go:build lab

package labcheck

import (
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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/testcluster"
)

var update = flag.Bool("update", false, "rerun the guide and write the real outputs and plots into docs/")

const (
	commandTimeout = 10 * time.Minute // one foreground command
	appearTimeout  = 90 * time.Second // a background command's shown output
	stopTimeout    = 60 * time.Second // a background command after SIGINT/SIGTERM
)

// ---- ports --------------------------------------------------------------------

// freeBase returns a base port B, below the ephemeral range, with B..B+12
// and B+100..B+109 free: node-i's request (B+i) and ingest (B+100+i) ports,
// and Consul's HTTP, Serf and server ports (B+10, B+11, B+12).
func freeBase() int {
	for base := 11000 + int(time.Now().UnixNano()%19000); ; base = 11000 + (base-11000+211)%19000 {
		var ls []net.Listener
		ok := true
		for _, r := range [][2]int{{base, base + 13}, {base + 100, base + 110}, {base + 200, base + 211}} {
			for p := r[0]; p < r[1] && ok; p++ {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
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

// ---- running -------------------------------------------------------------------

type bg struct {
	cmd  string
	proc *exec.Cmd
	out  *testcluster.SyncBuffer
	done chan struct{}
}

// lab is one run of the guide.
type lab struct {
	t        *testing.T
	dir      string // the working directory: bin/, the Python programs
	env      []string
	ports    Ports
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
	realMaglev := filepath.Join(dir, ".real-maglev")
	for _, b := range [][]string{
		{"build", "-o", real + "/", "./server_consumer", "./client_producer"},
		// The guide's "write your own placer": a build with the example.
		{"build", "-tags", "maglev", "-o", realMaglev + "/", "./client_producer"},
	} {
		build := exec.Command("go", b...)
		build.Dir = root
		out, err := build.CombinedOutput()
		require.NoError(t, err, "go %v: %s", b, out)
	}

	base := freeBase()
	httpPort, serfPort, serverPort := base+10, base+11, base+12
	p := Ports{8500: httpPort}
	for i := range 10 {
		p[2000+i] = base + i
		p[2100+i] = base + 100 + i
	}

	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(filepath.Join(bin, "maglev"), 0o755))
	write := func(name, script string) {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	for name, exe := range map[string]string{"client_producer": real, "maglev/client_producer": realMaglev} {
		write(name, fmt.Sprintf(`#!/bin/sh
# lab-check: --static finds node-i on the private ports instead of 2000+i/2100+i;
# grade --consul finds bin/consul on PATH, as it would next to the program
PATH=%q:"$PATH" exec %q "$@" --base-rep-port=%d --base-pull-port=%d
`, bin, filepath.Join(exe, "client_producer"), base, base+100))
	}
	write("server_consumer", fmt.Sprintf(`#!/bin/sh
# lab-check: node-i on private ports instead of 2000+i/2100+i/2200+i
exec %q "$@" --base-rep-port %d --base-pull-port %d --base-metrics-port %d --metrics-port %d
`, filepath.Join(real, "server_consumer"), base, base+100, base+200, base+210))
	write("consul", fmt.Sprintf(`#!/bin/sh
# lab-check: the agent on private ports instead of 8500 and friends (an agent
# given its own ports, as client_producer grade starts one, keeps them)
if [ "$1" = agent ] && ! printf '%%s\n' "$@" | grep -qx -- -http-port; then
	exec %q "$@" -http-port %d -serf-lan-port %d -server-port %d -serf-wan-port -1 -dns-port -1 -grpc-port -1 -grpc-tls-port -1
fi
exec %q "$@"
`, consulBin, httpPort, serfPort, serverPort, consulBin))

	// The Python programs the guide runs, at the same paths.
	for _, py := range []string{"docs/lab/client.py", "internal/grade/testdata/server.py"} {
		data, err := os.ReadFile(filepath.Join(root, py))
		require.NoError(t, err)
		to := filepath.Join(dir, filepath.FromSlash(py))
		require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
		require.NoError(t, os.WriteFile(to, data, 0o755))
	}

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
	c := exec.CommandContext(ctx, "bash", "-c", l.ports.ToPrivate(cmd))
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
	var out testcluster.SyncBuffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	lines := SplitOutput(l.ports.ToGuide(out.String()))
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

func (l *lab) start(cmd string) *bg {
	c := l.command(context.Background(), cmd)
	b := &bg{cmd: cmd, proc: c, out: &testcluster.SyncBuffer{}, done: make(chan struct{})}
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
	acts, err := ParseGuide(lines)
	require.NoError(t, err, "LAB.md")
	l := setup(t, root)

	got := map[*Block][][]string{} // block -> each step's real output
	for _, a := range acts {
		switch {
		case a.Directive == "ctrl-c":
			i := slices.IndexFunc(l.bgs, func(b *bg) bool { return strings.Contains(b.cmd, a.Arg) })
			require.GreaterOrEqual(t, i, 0, "LAB.md:%d: no running command contains %q", a.Line, a.Arg)
			t.Logf("LAB.md:%d: Ctrl-C %s", a.Line, l.bgs[i].cmd)
			l.stop(l.bgs[i], syscall.SIGINT)
		case a.Directive == "wait-passing":
			want := strings.Fields(a.Arg)
			slices.Sort(want)
			deadline := time.Now().Add(appearTimeout)
			for {
				reg, pass, err := l.members()
				if err == nil && slices.Equal(reg, want) && slices.Equal(pass, want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("LAB.md:%d: want exactly %v passing; registered %v, passing %v (%v)", a.Line, want, reg, pass, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		case a.Block.Skip:
			for _, s := range a.Block.Steps {
				t.Logf("LAB.md:%d: skipped: %s", a.Block.Line, s.Cmd)
			}
		case a.Block.Background:
			l.runBackground(a.Block)
		default:
			got[a.Block] = l.runBlock(a.Block)
		}
	}

	l.checkPlots(root, string(raw))
	if *update {
		require.NoError(t, os.WriteFile(guide, []byte(Rewrite(lines, acts, got)), 0o644))
		t.Logf("wrote the real outputs of %d blocks into %s", len(got), guide)
		return
	}
	if l.failures > 0 {
		t.Fatalf("%d commands of LAB.md show other output than they print; rerun with make lab-update if the change is intended", l.failures)
	}
}

func (l *lab) runBackground(b *Block) {
	t := l.t
	for _, s := range b.Steps {
		t.Logf("LAB.md:%d: started in the background: %s", b.Line, s.Cmd)
		p := l.start(s.Cmd)
		res := append(slices.Clone(DefaultMasks), b.Masks...)
		want := Normalize(s.Want, res)
		deadline := time.Now().Add(appearTimeout)
		for {
			have := Normalize(SplitOutput(l.ports.ToGuide(p.out.String())), res)
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
				t.Fatalf("LAB.md:%d: %s exited; missing output %q; output:\n%s", b.Line, s.Cmd, missing, p.out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("LAB.md:%d: %s: within %s, no output %q; output:\n%s", b.Line, s.Cmd, appearTimeout, missing, p.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (l *lab) runBlock(b *Block) [][]string {
	t := l.t
	res := append(slices.Clone(DefaultMasks), b.Masks...)
	var outs [][]string
	for _, s := range b.Steps {
		start := time.Now()
		out := l.run(s.Cmd)
		t.Logf("LAB.md:%d: $ %s (%s, %d lines)", b.Line, s.Cmd, time.Since(start).Round(time.Millisecond), len(out))
		outs = append(outs, out)
		if *update {
			continue
		}
		want, have := Normalize(s.Want, res), Normalize(out, res)
		if !slices.Equal(want, have) {
			l.failures++
			t.Errorf("LAB.md:%d: $ %s\n%s", b.Line, s.Cmd, diff(want, have))
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

package main

import (
	"bufio"
	"fmt"

	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &binary}))
}

// freeBases finds n consecutive free ports for requests and n for ingest.
func freeBases(t *testing.T, n int) (req, ingest int) {
	t.Helper()
	base := testcluster.FreePortRange(t, 3*n)
	return base, base + n // metrics on base+2n..
}

type proc struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr testcluster.SyncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", args, stderr.String())
		}
	})
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &proc{cmd: cmd, lines: bufio.NewScanner(out)}
}

// ready reads READY lines until it has n and returns name -> request endpoint.
func (p *proc) ready(t *testing.T, n int) map[string]string {
	t.Helper()
	eps := map[string]string{}
	for len(eps) < n {
		require.True(t, p.lines.Scan(), "process ended before %d nodes were ready", n)
		f := strings.Fields(p.lines.Text())
		if len(f) == 4 && f[0] == "READY" {
			eps[f[1]] = f[2]
		}
	}
	go func() {
		for p.lines.Scan() {
		}
	}()
	return eps
}

func ping(t *testing.T, ep string) string {
	t.Helper()
	s, err := zmq.NewSocket(zmq.REQ)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.SetRcvtimeo(20*time.Second))
	require.NoError(t, s.Connect(ep))
	_, err = s.SendBytes([]byte(`{"op":"PING"}`), 0)
	require.NoError(t, err)
	b, err := s.RecvBytes(0)
	require.NoError(t, err)
	rep, _, err := protocol.DecodeReply(b)
	require.NoError(t, err)
	require.Equal(t, protocol.StatusOK, rep.Status)
	return rep.Node
}

func TestStaticStartsAndStops(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			const n = 3
			req, ingest := freeBases(t, n)
			p := start(t, "--static", fmt.Sprint(n), "--base-rep-port", fmt.Sprint(req), "--base-pull-port", fmt.Sprint(ingest),
				"--base-metrics-port", fmt.Sprint(ingest+n))
			eps := p.ready(t, n)
			for i := range n {
				name := fmt.Sprintf("node-%d", i)
				require.Equal(t, fmt.Sprintf("tcp://127.0.0.1:%d", req+i), eps[name])
				require.Equal(t, name, ping(t, eps[name]))
			}
			require.NoError(t, p.cmd.Process.Signal(sig))
			require.NoError(t, p.cmd.Wait(), "clean exit")
			for i := range n {
				require.True(t, testcluster.PortFree(req+i), "request port of node-%d released", i)
				require.True(t, testcluster.PortFree(ingest+i), "ingest port of node-%d released", i)
			}
		})
	}
}

func TestStaticStopsAllWhenOneFails(t *testing.T) {
	req, ingest := freeBases(t, 2)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", req+1)) // node-1 cannot bind
	require.NoError(t, err)
	defer l.Close()
	p := start(t, "--static", "2", "--base-rep-port", fmt.Sprint(req), "--base-pull-port", fmt.Sprint(ingest),
		"--base-metrics-port", fmt.Sprint(ingest+2))
	go func() {
		for p.lines.Scan() {
		}
	}()
	err = p.cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	require.True(t, testcluster.PortFree(req), "node-0 was stopped")
}

func TestNodeMode(t *testing.T) {
	p := start(t, "node", "--name", "solo") // not node-<i>: free ports
	eps := p.ready(t, 1)
	require.Equal(t, "solo", ping(t, eps["solo"]))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, p.cmd.Wait())
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"--static", "0"}, {"--bogus"}, {"many"}, {"101"}, {"4", "--static", "2"}, {"1", "2"}, {"--static", "2", "--base-rep-port", "3000", "--base-pull-port", "3001"},
		{"node", "--log-level", "loud"}, {"node", "--rep-port", "-5"},
		{"node", "--sync", "sometimes"}, {"node", "--cache-mb", "0"}, {"--static", "2", "--cache-mb", "-1"}, {"2", "--sync", "sometimes"}} {
		err := exec.Command(binary, args...).Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v", args)
		require.Equal(t, 2, ee.ExitCode(), "%v", args)
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"node", "--help"}} {
		out, err := exec.Command(binary, args...).Output()
		require.NoError(t, err)
		for _, flag := range []string{"--bind", "--log-level", "--max-key-bytes", "--max-value-bytes", "--max-message-bytes", "--max-batch-ops", "--max-reply-bytes", "--data-dir", "--sync", "--cache-mb", "--catch-up-settle", "--max-clock-ahead", "--tombstone-ttl"} {
			require.Contains(t, string(out), flag)
		}
		if args[0] == "node" {
			for _, flag := range []string{"--name", "--rep-port", "--pull-port", "--consul", "--service", "--host", "--advertise", "--ttl", "--consul-token-file", "--consul-cacert"} {
				require.Contains(t, string(out), flag)
			}
		} else {
			for _, flag := range []string{"--static", "--base-rep-port", "--base-pull-port", "--consul", "--service", "--host", "--advertise", "CONSUL_HTTP_ADDR", "--consul-token-file", "--consul-cacert", "--consul-client-cert", "--consul-client-key", "CONSUL_HTTP_TOKEN_FILE"} {
				require.Contains(t, string(out), flag)
			}
		}
	}
}

func TestPing(t *testing.T) {
	p := start(t, "node", "--name", "solo")
	ep := p.ready(t, 1)["solo"]
	out, err := exec.Command(binary, "ping", ep, "--name", "solo").Output()
	require.NoError(t, err)
	require.Equal(t, "OK solo "+ep+"\n", string(out))

	// Another node's name, and a port nobody answers on: exit 1.
	for _, args := range [][]string{
		{"ping", ep, "--name", "node-7"},
		{"ping", fmt.Sprintf("tcp://127.0.0.1:%d", testcluster.FreePortRange(t, 1)), "--timeout", "300ms"},
	} {
		err := exec.Command(binary, args...).Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v", args)
		require.Equal(t, 1, ee.ExitCode(), "%v", args)
	}
	err = exec.Command(binary, "ping", ep, "--timeout", "0s").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "--timeout 0 is a usage error")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, p.cmd.Wait())
}

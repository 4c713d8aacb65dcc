package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// pushPull measures raw ZeroMQ PUSH/PULL over loopback TCP: n messages of
// size bytes, one sender and one receiver goroutine on separate contexts.
func pushPull(n, size int) (Throughput, error) {
	rctx, err := zmq.NewContext()
	if err != nil {
		return Throughput{}, err
	}
	defer rctx.Term()
	sctx, err := zmq.NewContext()
	if err != nil {
		return Throughput{}, err
	}
	defer sctx.Term()
	pull, err := rctx.NewSocket(zmq.PULL)
	if err != nil {
		return Throughput{}, err
	}
	_ = pull.SetLinger(0)
	_ = pull.SetRcvtimeo(10 * time.Second)
	if err := pull.Bind("tcp://127.0.0.1:*"); err != nil {
		pull.Close()
		return Throughput{}, err
	}
	ep, _ := pull.GetLastEndpoint()
	push, err := sctx.NewSocket(zmq.PUSH)
	if err != nil {
		pull.Close()
		return Throughput{}, err
	}
	_ = push.SetLinger(0)
	_ = push.Connect(ep)
	msg := make([]byte, size)
	// Warm the connection up.
	if _, err := push.SendBytes(msg, 0); err == nil {
		_, _ = pull.RecvBytes(0)
	}
	done := make(chan error, 1)
	go func() { // owns pull
		defer pull.Close()
		for i := 0; i < n; i++ {
			if _, err := pull.RecvBytes(0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := push.SendBytes(msg, 0); err != nil {
			push.Close()
			<-done
			return Throughput{}, err
		}
	}
	err = <-done
	el := time.Since(start)
	push.Close()
	return throughput(n, el), err
}

// reqRep measures raw ZeroMQ REQ/REP echo round trips over loopback TCP.
func reqRep(n, size int) (Latency, error) {
	rctx, err := zmq.NewContext()
	if err != nil {
		return Latency{}, err
	}
	defer rctx.Term()
	cctx, err := zmq.NewContext()
	if err != nil {
		return Latency{}, err
	}
	defer cctx.Term()
	rep, err := rctx.NewSocket(zmq.REP)
	if err != nil {
		return Latency{}, err
	}
	_ = rep.SetLinger(0)
	_ = rep.SetRcvtimeo(10 * time.Second)
	if err := rep.Bind("tcp://127.0.0.1:*"); err != nil {
		rep.Close()
		return Latency{}, err
	}
	ep, _ := rep.GetLastEndpoint()
	warm := min(1000, n)
	go func() { // owns rep
		defer rep.Close()
		for i := 0; i < n+warm; i++ {
			m, err := rep.RecvBytes(0)
			if err != nil {
				return
			}
			if _, err := rep.SendBytes(m, 0); err != nil {
				return
			}
		}
	}()
	req, err := cctx.NewSocket(zmq.REQ)
	if err != nil {
		return Latency{}, err
	}
	defer req.Close()
	_ = req.SetLinger(0)
	_ = req.SetRcvtimeo(10 * time.Second)
	if err := req.Connect(ep); err != nil {
		return Latency{}, err
	}
	msg := make([]byte, size)
	samples := make([]time.Duration, 0, n)
	start := time.Now()
	for i := 0; i < n+warm; i++ {
		t0 := time.Now()
		if _, err := req.SendBytes(msg, 0); err != nil {
			return Latency{}, err
		}
		if _, err := req.RecvBytes(0); err != nil {
			return Latency{}, err
		}
		if i == warm-1 {
			start = time.Now()
		}
		if i >= warm {
			samples = append(samples, time.Since(t0))
		}
	}
	return latency(samples, time.Since(start)), nil
}

// echoPair is a raw REQ/REP echo over loopback TCP for round trips
// interleaved with the producer's (a paired measurement). Its REP side runs
// where the nodes run: in a child process (RunEcho) when the nodes are
// processes, else in this process on its own context; so the baseline pays
// the same process wake-ups the nodes do.
type echoPair struct {
	cctx *zmq.Context
	req  *zmq.Socket
	msg  []byte
	stop func()
}

func newEchoPair(size int, spawn []string) (*echoPair, error) {
	e := &echoPair{msg: make([]byte, size)}
	var ep string
	var err error
	if len(spawn) > 0 {
		ep, e.stop, err = spawnEcho(spawn)
	} else {
		ep, e.stop, err = inProcessEcho()
	}
	if err != nil {
		return nil, err
	}
	if e.cctx, err = zmq.NewContext(); err == nil {
		if e.req, err = e.cctx.NewSocket(zmq.REQ); err == nil {
			_ = e.req.SetLinger(0)
			_ = e.req.SetRcvtimeo(10 * time.Second)
			err = e.req.Connect(ep)
		}
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// roundTrip sends one message and waits for its echo.
func (e *echoPair) roundTrip() error {
	if _, err := e.req.SendBytes(e.msg, 0); err != nil {
		return err
	}
	_, err := e.req.RecvBytes(0)
	return err
}

func (e *echoPair) close() {
	if e.req != nil {
		e.req.Close()
	}
	if e.cctx != nil {
		_ = e.cctx.Term()
	}
	e.stop()
}

// RunEcho binds a REP socket on a free loopback port, prints its endpoint
// and echoes every message until stdin closes. It is the body of the hidden
// `client_producer bench-echo`.
func RunEcho(stdin io.Reader, stdout io.Writer) error {
	ep, stop, err := inProcessEcho()
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintln(stdout, ep)
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// inProcessEcho starts a REP echo on its own context and goroutine.
func inProcessEcho() (string, func(), error) {
	rctx, err := zmq.NewContext()
	if err != nil {
		return "", nil, err
	}
	rep, err := rctx.NewSocket(zmq.REP)
	if err == nil {
		_ = rep.SetLinger(0)
		_ = rep.SetRcvtimeo(100 * time.Millisecond)
		if err = rep.Bind("tcp://127.0.0.1:*"); err != nil {
			rep.Close()
		}
	}
	if err != nil {
		_ = rctx.Term()
		return "", nil, err
	}
	ep, _ := rep.GetLastEndpoint()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() { // owns rep
		defer close(done)
		defer rep.Close()
		for {
			m, err := rep.RecvBytes(0)
			if err != nil {
				select {
				case <-quit:
					return
				default:
					continue
				}
			}
			_, _ = rep.SendBytes(m, 0)
		}
	}()
	return ep, func() { close(quit); <-done; _ = rctx.Term() }, nil
}

func spawnEcho(spawn []string) (string, func(), error) {
	cmd := exec.Command(spawn[0], spawn[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = stdin.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "tcp://") {
		_ = cmd.Process.Kill()
		stop()
		return "", nil, fmt.Errorf("echo process did not start (%q, %v)", line, err)
	}
	return strings.TrimSpace(line), stop, nil
}

// RedisRun is one redis-benchmark measurement.
type RedisRun struct {
	Name string  `json:"name"` // e.g. "SET -P 16 -c 50"
	Args string  `json:"args"` // the exact command line
	RPS  float64 `json:"rps"`  // requests per second, as reported
}

// redisRuns are the redis-benchmark measurements the goals compare with.
var redisRuns = []struct{ name, test, extra string }{
	{"SET -c 50", "set", "-c 50"},
	{"SET -P 16 -c 50", "set", "-P 16 -c 50"},
	{"GET -c 50", "get", "-c 50"},
	{"GET -P 16 -c 50", "get", "-P 16 -c 50"},
}

// redisAOFRuns are the SET measurements against a redis-server that
// appends every write to its AOF (the durable baselines): pipelined, as the
// bulk PUT they are compared with.
var redisAOFRuns = []struct{ name, test, extra string }{
	{"SET -P 16 -c 50", "set", "-P 16 -c 50"},
}

// errNoRedis means redis-server or redis-benchmark is not installed.
var errNoRedis = errors.New("redis-server/redis-benchmark not installed (scripts/bootstrap.sh --bench installs them)")

// redisBench starts a private redis-server on a free port and runs
// redis-benchmark runs against it: n requests, size-byte values. With
// appendfsync "" the server keeps nothing on disk; else it runs with
// appendonly yes and that appendfsync policy, its AOF in a temporary
// directory, and the run names end in "(AOF <policy>)".
func redisBench(ctx context.Context, n, size int, appendfsync string, runs []struct{ name, test, extra string }) ([]RedisRun, error) {
	server, err1 := exec.LookPath("redis-server")
	client, err2 := exec.LookPath("redis-benchmark")
	if err1 != nil || err2 != nil {
		return nil, errNoRedis
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	persist := []string{"--appendonly", "no"}
	suffix := ""
	if appendfsync != "" {
		dir, err := os.MkdirTemp("", "zshard-bench-redis")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		persist = []string{"--appendonly", "yes", "--appendfsync", appendfsync, "--dir", dir}
		suffix = " (AOF " + appendfsync + ")"
	}
	srv := exec.CommandContext(ctx, server, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--daemonize", "no", "--loglevel", "warning"}, persist...)...)
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	if err := waitRedis(port); err != nil {
		return nil, err
	}
	var out []RedisRun
	for _, r := range runs {
		args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", r.test, "-n", strconv.Itoa(n), "-d", strconv.Itoa(size), "--csv"}
		args = append(args, strings.Fields(r.extra)...)
		b, err := exec.CommandContext(ctx, client, args...).Output()
		if err != nil {
			return out, fmt.Errorf("redis-benchmark %s: %w", strings.Join(args, " "), err)
		}
		rps, err := parseRedisCSV(b, strings.ToUpper(r.test))
		if err != nil {
			return out, err
		}
		out = append(out, RedisRun{Name: r.name + suffix, Args: "redis-benchmark " + strings.Join(args, " "), RPS: rps})
	}
	return out, nil
}

func waitRedis(port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			_ = c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("redis-server did not answer PING")
}

// parseRedisCSV reads the rps of test from redis-benchmark --csv output:
// a header "test","rps",... then one row per test.
func parseRedisCSV(b []byte, test string) (float64, error) {
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark output %q: %w", b, err)
	}
	for _, row := range rows {
		if len(row) >= 2 && row[0] == test {
			return strconv.ParseFloat(row[1], 64)
		}
	}
	return 0, fmt.Errorf("redis-benchmark output has no %s row: %q", test, b)
}

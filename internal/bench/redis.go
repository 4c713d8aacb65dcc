package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/zshard/zshard/internal/proc"
)

// runRedisBaselines runs redis-benchmark into res: the runs against an
// in-memory redis-server with cfg.Redis, then with cfg.RedisAOF the runs
// against ones that append every write to their AOF, with appendfsync
// always and everysec. A failure is recorded in res.RedisError and ends
// the redis runs.
func runRedisBaselines(ctx context.Context, cfg Config, res *Result) {
	if cfg.Redis {
		if err := redisPhase(ctx, cfg, res, "redis-benchmark", "", redisRuns); err != nil {
			return
		}
	}
	if !cfg.RedisAOF {
		return
	}
	for _, fsync := range []string{"always", "everysec"} {
		if err := redisPhase(ctx, cfg, res, "redis-benchmark, appendfsync "+fsync, fsync, redisAOFRuns); err != nil {
			return
		}
	}
}

// redisPhase is one redisBench shown as the progress phase named phase;
// it appends its runs to res and records its error.
func redisPhase(ctx context.Context, cfg Config, res *Result, phase, appendfsync string, runs []redisSpec) error {
	done := cfg.Progress(phase, 1)
	rs, err := redisBench(ctx, cfg.Keys, cfg.ValueSize, appendfsync, runs)
	done(1)
	res.Redis = append(res.Redis, rs...)
	if err != nil {
		res.RedisError = err.Error()
	}
	return err
}

// RedisRun is one redis-benchmark measurement.
type RedisRun struct {
	Name string  `json:"name"` // e.g. "SET -P 16 -c 50"
	Args string  `json:"args"` // the exact command line
	RPS  float64 `json:"rps"`  // requests per second, as reported
	// CPUCost is the CPU time of redis-server and redis-benchmark over the
	// run, when it was measured.
	*CPUCost
}

// RedisCPU is the CPU cost of one redis run, named.
type RedisCPU struct {
	Name string `json:"name"`
	CPUCost
}

// redisCPURun names the redis run whose CPU cost Result.RedisCPU reports:
// the one the bulk PUT is compared with.
const redisCPURun = "SET -P 16 -c 50"

// redisCPU returns the CPU cost of the run redisCPURun, nil if it was not
// measured.
func redisCPU(runs []RedisRun) *RedisCPU {
	for _, r := range runs {
		if r.Name == redisCPURun && r.CPUCost != nil {
			return &RedisCPU{Name: r.Name, CPUCost: *r.CPUCost}
		}
	}
	return nil
}

// redisSpec is one redis-benchmark measurement to take: its name in the
// report, the -t test and the extra flags.
type redisSpec struct{ name, test, extra string }

// redisRuns are the redis-benchmark measurements the goals compare with.
var redisRuns = []redisSpec{
	{"SET -c 50", "set", "-c 50"},
	{"SET -P 16 -c 50", "set", "-P 16 -c 50"},
	{"GET -c 50", "get", "-c 50"},
	{"GET -P 16 -c 50", "get", "-P 16 -c 50"},
}

// redisAOFRuns are the SET measurements against a redis-server that
// appends every write to its AOF (the durable baselines): pipelined, as the
// bulk PUT they are compared with.
var redisAOFRuns = []redisSpec{
	{"SET -P 16 -c 50", "set", "-P 16 -c 50"},
}

// errNoRedis means redis-server or redis-benchmark is not installed.
var errNoRedis = errors.New("redis-server/redis-benchmark not installed (scripts/bootstrap.sh --bench installs them)")

// redisBench starts a private redis-server on a free port and runs
// redis-benchmark runs against it: n requests, size-byte values, over a
// key space of n keys (-r n: the keys of a run are random among n, not one
// single key written over and over), each with the CPU time of the server
// and of redis-benchmark over it. With
// appendfsync "" the server keeps nothing on disk; else it runs with
// appendonly yes and that appendfsync policy, its AOF in a temporary
// directory, and the run names end in "(AOF <policy>)".
func redisBench(ctx context.Context, n, size int, appendfsync string, runs []redisSpec) ([]RedisRun, error) {
	server, err1 := exec.LookPath("redis-server")
	client, err2 := exec.LookPath("redis-benchmark")
	if err1 != nil || err2 != nil {
		return nil, errNoRedis
	}
	ports, err := proc.FreePorts(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
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
	srv, err := proc.Start(proc.Config{Path: server, Args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--daemonize", "no", "--loglevel", "warning"}, persist...)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Kill(); _ = srv.Wait() }()
	if err := waitRedis(port); err != nil {
		return nil, err
	}
	var out []RedisRun
	for _, r := range runs {
		args := redisArgs(port, n, size, r)
		before, cpuErr := srv.CPUTime()
		cmd := exec.CommandContext(ctx, client, args...)
		b, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("redis-benchmark %s: %w", strings.Join(args, " "), err)
		}
		rps, err := parseRedisCSV(b, strings.ToUpper(r.test))
		if err != nil {
			return out, err
		}
		run := RedisRun{Name: r.name + suffix, Args: "redis-benchmark " + strings.Join(args, " "), RPS: rps}
		after, err := srv.CPUTime()
		if cpuErr == nil && err == nil {
			st := cmd.ProcessState
			run.CPUCost = newCPUCost(n, map[string]time.Duration{
				"redis-server":    after - before,
				"redis-benchmark": st.UserTime() + st.SystemTime(),
			})
		}
		out = append(out, run)
	}
	return out, nil
}

// redisArgs returns the redis-benchmark arguments of run r against the
// server on port: n requests of test r.test with size-byte values, over a
// key space of n keys, CSV output.
func redisArgs(port, n, size int, r redisSpec) []string {
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", r.test,
		"-n", strconv.Itoa(n), "-r", strconv.Itoa(n), "-d", strconv.Itoa(size), "--csv"}
	return append(args, strings.Fields(r.extra)...)
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

package soak

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
)

var serverBin string

func TestMain(m *testing.M) {
	if os.Getenv("ZSHARD_SOAK") != "1" {
		os.Exit(m.Run()) // the tests skip; nothing to build
	}
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &serverBin}))
}

func soakOnly(t *testing.T) {
	if os.Getenv("ZSHARD_SOAK") != "1" {
		t.Skip("soak test: run with ZSHARD_SOAK=1 (make soak)")
	}
}

// Bounds of TestGetAllFlood, from the node's memory budget documentation.
const (
	floodKeys     = 500_000
	rssSlack      = 768 << 20 // over the node's RSS before the flood
	pingBound     = 500 * time.Millisecond
	greedyGetAlls = 40
	clients       = 16
	busyTries     = 30 // a client answered busy sends again, after protocol.BusyBackoff
)

// TestGetAllFlood: one node process (default --memory-budget) holding
// 500k keys of 100 bytes; a DEALER sends 40 GET_ALL and reads none of the
// replies (not even into its ZeroMQ queue: receive HWM 1, a small TCP
// window), while 16 other clients send GET_ALL at once. Throughout, a PING
// from another client is answered within pingBound and the node's RSS stays
// within its RSS before the flood plus rssSlack; each of the 16 gets the
// whole collection or a busy error reply; afterwards the node answers and,
// once the greedy client is gone, its budget is all free again.
func TestGetAllFlood(t *testing.T) {
	soakOnly(t)
	node := testcluster.StartProcess(t, serverBin, "node", "--name", "soak", "--log-level", "warn")
	reqEP, ingestEP := ready(t, node)
	load(t, ingestEP, reqEP, floodKeys)
	time.Sleep(3 * time.Second) // let the load's garbage be collected
	steady := rss(t, node.Pid())
	t.Logf("steady RSS after loading %d keys: %d MiB", floodKeys, steady>>20)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	var peakRSS atomic.Int64
	bg.Add(2)
	go func() { // RSS sampler
		defer bg.Done()
		for {
			if r, err := rssOf(node.Pid()); err == nil {
				peakRSS.Store(max(peakRSS.Load(), r))
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var pingFails int
	var pingTimes []time.Duration
	pinger := dial(t, zmq.REQ, reqEP, 10*time.Second)
	go func() { // PING prober
		defer bg.Done()
		for {
			t0 := time.Now()
			_, err := roundTrip(pinger, []byte(`{"op":"PING"}`))
			pingTimes = append(pingTimes, time.Since(t0))
			if err != nil {
				pingFails++
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	greedy := dial(t, zmq.DEALER, reqEP, time.Second)
	require.NoError(t, greedy.SetRcvhwm(1))
	require.NoError(t, greedy.SetRcvbuf(64<<10))
	for range greedyGetAlls {
		_, err := greedy.SendBytes([]byte(`{"op":"GET_ALL"}`), 0)
		require.NoError(t, err)
	}

	type outcome struct {
		keys int
		code protocol.Code
		busy int // busy replies before the last reply
		took time.Duration
		err  error
	}
	out := make([]outcome, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		s := dial(t, zmq.REQ, reqEP, 5*time.Minute)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			<-start
			t0 := time.Now()
			for o := &out[i]; ; o.busy++ {
				b, err := roundTrip(s, []byte(`{"op":"GET_ALL"}`))
				o.took, o.err, o.code = time.Since(t0), err, ""
				switch {
				case err != nil:
				case bytes.HasPrefix(b, []byte(`{"status":"OK"`)):
					o.keys = bytes.Count(b, []byte(`{"key":`))
				default:
					rep, _, err := protocol.DecodeReply(b)
					if o.err = err; err == nil && rep.Err != nil {
						o.code = rep.Err.Code
					}
				}
				if o.code != protocol.CodeBusy || o.busy == busyTries {
					return
				}
				time.Sleep(protocol.BusyBackoff(o.busy))
			}
		}()
	}
	close(start)
	wg.Wait()
	time.Sleep(2 * time.Second) // the PING prober and the sampler go on a while
	close(stop)
	bg.Wait()

	served, busy, firstBusy := 0, 0, 0
	for i, o := range out {
		t.Logf("client %2d: %d keys, error %q, after %d busy replies, %v, %v", i, o.keys, o.code, o.busy, o.took.Round(time.Millisecond), o.err)
		if o.busy > 0 || o.code == protocol.CodeBusy {
			firstBusy++
		}
		require.NoError(t, o.err, "client %d", i)
		switch {
		case o.keys == floodKeys:
			served++
		case o.code == protocol.CodeBusy:
			busy++
		default:
			t.Errorf("client %d: neither the whole collection (%d keys) nor busy (%q)", i, o.keys, o.code)
		}
	}
	peak := peakRSS.Load()
	pinger.Close()
	slices.Sort(pingTimes)
	q := func(f float64) time.Duration {
		return pingTimes[int(f*float64(len(pingTimes)-1))].Round(100 * time.Microsecond)
	}
	t.Logf("FIGURES: steady RSS %d MiB, peak RSS %d MiB (+%d MiB, bound +%d MiB); PING p50 %v p99 %v max %v over %d pings (%d failed, bound %v); "+
		"%d of %d clients served whole (%d had busy replies first), %d still busy after %d tries",
		steady>>20, peak>>20, (peak-steady)>>20, rssSlack>>20, q(0.5), q(0.99), q(1), len(pingTimes), pingFails, pingBound,
		served, clients, firstBusy, busy, busyTries)
	require.LessOrEqual(t, peak-steady, int64(rssSlack), "RSS within the steady state plus the slack")
	require.LessOrEqual(t, q(1), pingBound, "PING latency")
	require.Zero(t, pingFails)

	// Alive afterwards: STATS answers and shows the budget and rejections.
	s := dial(t, zmq.REQ, reqEP, 10*time.Second)
	defer s.Close()
	st := stats(t, s)
	t.Logf("STATS memory: %+v, busy errors %d", *st.Memory, st.Errors["busy"])
	require.Positive(t, st.Memory.Rejected)
	greedy.Close()
	testcluster.Eventually(t, "budget free once the greedy client is gone", 30*time.Second, 100*time.Millisecond, func() bool {
		return stats(t, s).Memory.InUseBytes == 0
	})
	t.Logf("RSS after the flood, greedy client gone: %d MiB", rss(t, node.Pid())>>20)
}

// ready waits for the node's READY line and returns its endpoints.
func ready(t *testing.T, node *testcluster.Process) (reqEP, ingestEP string) {
	testcluster.Eventually(t, "node READY", 60*time.Second, 50*time.Millisecond, func() bool {
		for _, line := range strings.Split(node.Output(), "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[0] == "READY" {
				reqEP, ingestEP = f[2], f[3]
				return true
			}
		}
		return false
	})
	return reqEP, ingestEP
}

// load pushes keys keys of 100-byte values and waits for them to be
// applied (SYNC).
func load(t *testing.T, ingestEP, reqEP string, keys int) {
	push := dial(t, zmq.PUSH, ingestEP, time.Minute)
	defer push.Close()
	value := []byte(`"` + strings.Repeat("v", 98) + `"`)
	const batch = 1000
	for i := 0; i < keys; i += batch {
		r := protocol.Request{Op: protocol.OpBatch}
		for k := i; k < i+batch; k++ {
			r.Ops = append(r.Ops, protocol.Request{Op: protocol.OpPut, Key: "key-" + strconv.Itoa(k), Value: value})
		}
		b, err := protocol.AppendRequest(nil, protocol.JSON, &r)
		require.NoError(t, err)
		_, err = push.SendBytes(b, 0)
		require.NoError(t, err)
	}
	_, err := push.SendBytes([]byte(`{"op":"SYNC","token":"loaded"}`), 0)
	require.NoError(t, err)
	s := dial(t, zmq.REQ, reqEP, 2*time.Minute)
	defer s.Close()
	b, err := roundTrip(s, []byte(`{"op":"SYNC","token":"loaded","timeout_ms":60000}`))
	require.NoError(t, err)
	require.Contains(t, string(b), `"OK"`)
	require.Equal(t, int64(keys), stats(t, s).Keys)
}

func stats(t *testing.T, s *zmq.Socket) protocol.Stats {
	b, err := roundTrip(s, []byte(`{"op":"STATS"}`))
	require.NoError(t, err)
	rep, _, err := protocol.DecodeReply(b)
	require.NoError(t, err)
	require.NotNil(t, rep.Stats)
	require.NotNil(t, rep.Stats.Memory)
	return *rep.Stats
}

func dial(t *testing.T, typ zmq.Type, ep string, timeout time.Duration) *zmq.Socket {
	s, err := zmq.NewSocket(typ)
	require.NoError(t, err)
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.SetRcvtimeo(timeout))
	require.NoError(t, s.SetSndtimeo(timeout))
	require.NoError(t, s.Connect(ep))
	return s
}

func roundTrip(s *zmq.Socket, msg []byte) ([]byte, error) {
	if _, err := s.SendBytes(msg, 0); err != nil {
		return nil, err
	}
	return s.RecvBytes(0)
}

// rss returns the resident set size of process pid (VmRSS).
func rss(t *testing.T, pid int) int64 {
	r, err := rssOf(pid)
	require.NoError(t, err)
	return r
}

func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// TestIdleConnectionFlood: thousands of idle TCP connections to the request
// endpoint, and ZeroMQ clients that connect, send a GET_ALL and vanish
// without reading, do not stop the node: a client connected afterwards is
// served, and the budget is all free once they are gone.
func TestIdleConnectionFlood(t *testing.T) {
	soakOnly(t)
	const idle, vanishing = 3000, 200
	node := testcluster.StartProcess(t, serverBin, "node", "--name", "flood", "--log-level", "warn")
	reqEP, ingestEP := ready(t, node)
	load(t, ingestEP, reqEP, 50_000)
	addr := strings.TrimPrefix(reqEP, "tcp://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		require.NoError(t, err, "idle connection %d", len(conns))
		conns = append(conns, c)
	}
	for range vanishing {
		s := dial(t, zmq.DEALER, reqEP, time.Second)
		_, err := s.SendBytes([]byte(`{"op":"GET_ALL"}`), 0)
		require.NoError(t, err)
		s.Close()
	}
	s := dial(t, zmq.REQ, reqEP, 30*time.Second)
	defer s.Close()
	t0 := time.Now()
	b, err := roundTrip(s, []byte(`{"op":"PING"}`))
	require.NoError(t, err)
	require.Contains(t, string(b), `"OK"`)
	first := time.Since(t0)
	var worst time.Duration
	for range 50 {
		t0 := time.Now()
		_, err := roundTrip(s, []byte(`{"op":"PING"}`))
		require.NoError(t, err)
		worst = max(worst, time.Since(t0))
	}
	t.Logf("FIGURES: with %d idle connections open, the first PING of a new client (connection included) %v, the next 50 at most %v; node RSS %d MiB",
		idle, first.Round(time.Millisecond), worst.Round(100*time.Microsecond), rss(t, node.Pid())>>20)
	testcluster.Eventually(t, "budget free once the vanished clients' replies are dropped", 60*time.Second, 100*time.Millisecond, func() bool {
		return stats(t, s).Memory.InUseBytes == 0
	})
}

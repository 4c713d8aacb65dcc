package bench

import (
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// runZMQBaselines measures raw ZeroMQ PUSH/PULL and REQ/REP echo into res.
func runZMQBaselines(cfg Config, res *Result) error {
	done := cfg.Progress("zmq PUSH/PULL", 1)
	pp, err := pushPull(cfg.Keys, cfg.ValueSize)
	done(1)
	if err != nil {
		return fmt.Errorf("PUSH/PULL baseline: %w", err)
	}
	res.PushPull = &pp
	done = cfg.Progress("zmq REQ/REP echo", 1)
	rr, err := reqRep(cfg.LatencyOps, cfg.ValueSize)
	done(1)
	if err != nil {
		return fmt.Errorf("REQ/REP baseline: %w", err)
	}
	res.ReqRep = &rr
	return nil
}

// loopback is two ZeroMQ sockets over loopback TCP, each on a context of
// its own as they would be in two processes: server bound to a free port,
// client connected to it. Both have LINGER 0 and wait at most 10s for a
// message.
type loopback struct {
	sctx, cctx     *zmq.Context
	server, client *zmq.Socket
}

func newLoopback(server, client zmq.Type) (*loopback, error) {
	l := &loopback{}
	err := l.open(server, client)
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *loopback) open(server, client zmq.Type) error {
	var err error
	if l.sctx, err = zmq.NewContext(); err != nil {
		return err
	}
	if l.cctx, err = zmq.NewContext(); err != nil {
		return err
	}
	if l.server, err = newTimedSocket(l.sctx, server); err != nil {
		return err
	}
	if err := l.server.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	ep, _ := l.server.GetLastEndpoint()
	if l.client, err = newTimedSocket(l.cctx, client); err != nil {
		return err
	}
	return l.client.Connect(ep)
}

// newTimedSocket returns a socket of type t with LINGER 0 that waits at
// most 10s for a message.
func newTimedSocket(ctx *zmq.Context, t zmq.Type) (*zmq.Socket, error) {
	s, err := ctx.NewSocket(t)
	if err != nil {
		return nil, err
	}
	_ = s.SetLinger(0)
	_ = s.SetRcvtimeo(10 * time.Second)
	return s, nil
}

// close closes the sockets, then their contexts. A goroutine that used a
// socket must have finished with it.
func (l *loopback) close() {
	for _, s := range []*zmq.Socket{l.client, l.server} {
		if s != nil {
			_ = s.Close()
		}
	}
	for _, c := range []*zmq.Context{l.cctx, l.sctx} {
		if c != nil {
			_ = c.Term()
		}
	}
}

// pushPull measures raw ZeroMQ PUSH/PULL over loopback TCP: n messages of
// size bytes, one sender and one receiver goroutine on separate contexts,
// and the CPU time this process spent on them (both ends).
func pushPull(n, size int) (Throughput, error) {
	l, err := newLoopback(zmq.PULL, zmq.PUSH)
	if err != nil {
		return Throughput{}, err
	}
	defer l.close()
	push, pull := l.client, l.server
	msg := make([]byte, size)
	// Warm the connection up.
	if _, err := push.SendBytes(msg, 0); err == nil {
		_, _ = pull.RecvBytes(0)
	}
	done := make(chan error, 1)
	meter := cpuMeter{self: "push+pull"}
	cpu := meter.read()
	go func() { // owns pull until it reports
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
			<-done
			return Throughput{}, err
		}
	}
	err = <-done
	t := throughput(n, time.Since(start))
	t.CPUCost = meter.since(cpu, n)
	return t, err
}

// reqRep measures raw ZeroMQ REQ/REP echo round trips over loopback TCP.
func reqRep(n, size int) (Latency, error) {
	l, err := newLoopback(zmq.REP, zmq.REQ)
	if err != nil {
		return Latency{}, err
	}
	defer l.close()
	req, rep := l.client, l.server
	warm := min(1000, n)
	served := make(chan struct{})
	defer func() { <-served }() // before l.close: the goroutine owns rep
	go func() {
		defer close(served)
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

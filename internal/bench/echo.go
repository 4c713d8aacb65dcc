package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/proc"
)

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

// spawnEcho starts the echo process spawn (RunEcho) and returns its
// endpoint and the function that stops it.
func spawnEcho(spawn []string) (string, func(), error) {
	p, err := proc.Start(proc.Config{Path: spawn[0], Args: spawn[1:],
		PipeStdin: true, PipeStdout: true, Stderr: os.Stderr})
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = p.Stdin().Close() // the echo exits at the end of its stdin
		_ = p.Wait()
		_ = p.Stdout().Close()
	}
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "tcp://") {
		_ = p.Kill()
		stop()
		return "", nil, fmt.Errorf("echo process did not start (%q, %v)", line, err)
	}
	return strings.TrimSpace(line), stop, nil
}

package grade

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Check names. The scorecard and the tests name checks by these.
const (
	CheckStart        = "start"
	CheckIngestPUT    = "PUT on every ingest port"
	CheckIngestBad    = "bad input on the ingest port"
	CheckGetOne       = "GET_ONE"
	CheckGetOneMissed = "GET_ONE missing key"
	CheckOneReply     = "one reply per request"
	CheckGetAll       = "GET_ALL"
	CheckBadInput     = "bad input answered"
)

// junk is what the bad-input checks send: not JSON, not an object, fields
// missing or of the wrong type, an unknown operation, invalid UTF-8.
var junk = [][]byte{
	[]byte(`not json`),
	[]byte(`{"op":"PUT","key":"k"`),
	[]byte(`[1,2,3]`),
	[]byte(`"GET_ALL"`),
	[]byte(`{}`),
	[]byte(`{"key":"k","value":"v"}`),
	[]byte(`{"op":"NO_SUCH_OP","key":"k"}`),
	[]byte(`{"op":"PUT","value":"v"}`),
	[]byte(`{"op":"GET_ONE"}`),
	[]byte(`{"op":"GET_ONE","key":17}`),
	[]byte("\xff\xfe{\"op\":\"PUT\"}"),
}

const phase1Keys = 100 // PUTs pushed to each node in phase 1

// phase1 checks PUTs on the ingest ports and that bad input kills no node.
func (g *grader) phase1(ctx context.Context) error {
	s, err := g.startNodes(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		g.skip("the nodes did not start", CheckIngestPUT, CheckIngestBad)
		return nil
	}
	defer s.stop(5 * time.Second)
	n := g.cfg.Nodes

	// PUTs on every ingest port, read back with GET_ONE.
	want := fmt.Sprintf("%d PUTs pushed to each node's ingest port (%s .. %s) are stored (read back with GET_ONE)",
		phase1Keys, hostPort(g.pullEndpoint(0)), hostPort(g.pullEndpoint(n-1)))
	err = g.eachNode(func(i int) error {
		kv := make([][2]string, phase1Keys)
		for j := range kv {
			kv[j] = [2]string{fmt.Sprintf("phase1-node%d-%d", i, j), fmt.Sprintf("value-%d-%d", i, j)}
		}
		return g.pushAndRead(ctx, i, kv)
	})
	g.check(CheckIngestPUT, want, fmt.Sprintf("%d keys read back", n*phase1Keys), err)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Bad input on the ingest ports: the node must go on serving.
	want = fmt.Sprintf("after %d malformed messages (and a GET_ONE and a multipart message) on each ingest port, the nodes still store PUTs", len(junk))
	err = g.eachNode(func(i int) error {
		p, err := newPusher(g.pullEndpoint(i), g.cfg.Timeout)
		if err != nil {
			return err
		}
		for _, j := range junk {
			if err := p.send(j); err != nil {
				p.close()
				return err
			}
		}
		_ = p.sendJSON(map[string]string{"op": "GET_ONE", "key": "phase1-node0-0"})
		_ = p.send([]byte(`{"op":"PUT","key":"multi","value":"part"}`), []byte(`junk`))
		p.close()
		return g.pushAndRead(ctx, i, [][2]string{{fmt.Sprintf("phase1-after-junk-%d", i), "still-serving"}})
	})
	if err == nil {
		if done, how := s.exited(); done {
			err = fmt.Errorf("%s", how)
		}
	}
	g.check(CheckIngestBad, want, "every node still serves", err)
	return nil
}

// eachNode runs f for every node at once and joins the failures, each
// prefixed by its node's name.
func (g *grader) eachNode(f func(i int) error) error {
	errs := make([]error, g.cfg.Nodes)
	done := make(chan struct{})
	for i := range g.cfg.Nodes {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := f(i); err != nil {
				errs[i] = fmt.Errorf("node-%d: %w", i, err)
			}
		}()
	}
	for range g.cfg.Nodes {
		<-done
	}
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// pushAndRead pushes PUTs of kv to node i's ingest port, in order, then
// waits until the last one is readable (one PUSH connection keeps the order)
// and reads them all back with GET_ONE.
func (g *grader) pushAndRead(ctx context.Context, i int, kv [][2]string) error {
	p, err := newPusher(g.pullEndpoint(i), g.cfg.Timeout)
	if err != nil {
		return err
	}
	for _, e := range kv {
		if err := p.sendJSON(map[string]string{"op": "PUT", "key": e[0], "value": e[1]}); err != nil {
			p.close()
			return err
		}
	}
	p.close()
	c := newReqConn(g.repEndpoint(i), g.cfg.Timeout)
	defer c.close()
	last := kv[len(kv)-1]
	if err := g.waitValue(ctx, c, last[0], last[1]); err != nil {
		return err
	}
	for _, e := range kv[:len(kv)-1] {
		if err := getOne(c, e[0], e[1]); err != nil {
			return err
		}
	}
	return nil
}

// waitValue asks for key with GET_ONE until it has value or the check's
// timeout passes (pushed writes are applied some time after they are sent).
func (g *grader) waitValue(ctx context.Context, c *reqConn, key, value string) error {
	deadline := time.Now().Add(g.cfg.Timeout)
	for {
		err := getOne(c, key, value)
		if err == nil || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("after %v: %w", g.cfg.Timeout, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// getOne sends GET_ONE key and checks that the reply is exactly key and
// value.
func getOne(c *reqConn, key, value string) error {
	r, err := c.callJSON(map[string]string{"op": "GET_ONE", "key": key})
	if err != nil {
		return fmt.Errorf("GET_ONE %q: %w", key, err)
	}
	return checkGetOne(r, key, value)
}

func checkGetOne(r reply, key, value string) error {
	if err := r.statusOK(); err != nil {
		return fmt.Errorf("GET_ONE %q: %w", key, err)
	}
	k, _ := r.str("key")
	v, ok := r["value"]
	if k != key || !ok || !sameString(v, value) {
		want, _ := encode(map[string]string{"key": key, "value": value})
		return fmt.Errorf("GET_ONE %q: got %s, want %s", key, r, want)
	}
	return nil
}

// phase2Data returns the keys phase 2 writes to node i, with their values:
// unicode keys and values, every cfg.Nodes-th key of 0..Keys-1.
func (g *grader) phase2Data(i int) [][2]string {
	var kv [][2]string
	for k := i; k < g.cfg.Keys; k += g.cfg.Nodes {
		kv = append(kv, [2]string{
			fmt.Sprintf("clé-%05d-ключ-鍵-🔑", k),
			fmt.Sprintf("valeur %d: значение, 値, \"quoted\" \\ 🙂", k),
		})
	}
	return kv
}

// phase2 checks GET_ONE, GET_ALL, a missing key, one reply per request and
// bad input on the request ports.
func (g *grader) phase2(ctx context.Context) error {
	checks := []string{CheckGetOne, CheckGetOneMissed, CheckOneReply, CheckGetAll, CheckBadInput}
	s, err := g.startNodes(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		g.skip("the nodes did not start", checks...)
		return nil
	}
	defer s.stop(5 * time.Second)
	n := g.cfg.Nodes

	// The data: pushed, then GET_ONE of every key.
	err = g.eachNode(func(i int) error { return g.pushAndRead(ctx, i, g.phase2Data(i)) })
	g.check(CheckGetOne, fmt.Sprintf("%d unicode keys pushed over %d nodes, each read back with GET_ONE as {\"key\":k,\"value\":v}", g.cfg.Keys, n),
		fmt.Sprintf("%d keys read back", g.cfg.Keys), err)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// A missing key.
	err = g.eachNode(func(i int) error {
		c := newReqConn(g.repEndpoint(i), g.cfg.Timeout)
		defer c.close()
		r, err := c.callJSON(map[string]string{"op": "GET_ONE", "key": "no-such-key-∅"})
		if err != nil {
			return err
		}
		return r.errorShape("not_found")
	})
	g.check(CheckGetOneMissed, `{"status":"error","error":"not_found","message":...}`, "not_found from every node", err)

	// One reply per request, in order, on a DEALER socket.
	const inFlight = 20
	err = g.eachNode(func(i int) error { return g.oneReplyEach(i, inFlight) })
	g.check(CheckOneReply, fmt.Sprintf("%d GET_ONEs sent at once on one connection get %d replies, in order, and no more", inFlight, inFlight),
		"one reply each", err)

	// GET_ALL: exactly what was written, phase 2's keys only.
	err = g.eachNode(func(i int) error {
		c := newReqConn(g.repEndpoint(i), g.cfg.Timeout)
		defer c.close()
		got, err := c.getAll()
		if err != nil {
			return err
		}
		return sameContents(got, g.phase2Data(i))
	})
	g.check(CheckGetAll, fmt.Sprintf("GET_ALL of each node returns exactly its keys and values (%d in all)", g.cfg.Keys),
		fmt.Sprintf("%d entries, all as written", g.cfg.Keys), err)

	// Bad input on the request ports: every message answered with an
	// error, and the node keeps serving.
	err = g.eachNode(func(i int) error {
		c := newReqConn(g.repEndpoint(i), g.cfg.Timeout)
		defer c.close()
		for _, j := range junk {
			b, err := c.call(j)
			if err != nil {
				return fmt.Errorf("sent %s: %w", clip(j), err)
			}
			r, err := decodeReply(b)
			if err == nil {
				err = r.errorShape("")
			}
			if err != nil {
				return fmt.Errorf("sent %s: %w", clip(j), err)
			}
		}
		kv := g.phase2Data(i)[0]
		return getOne(c, kv[0], kv[1])
	})
	if err == nil {
		if done, how := s.exited(); done {
			err = fmt.Errorf("%s", how)
		}
	}
	g.check(CheckBadInput, fmt.Sprintf(`each of %d malformed requests answered {"status":"error","error":code,"message":text}; the node then still answers`, len(junk)),
		"every one answered", err)
	return nil
}

// sameContents compares a GET_ALL collection with what was written.
func sameContents(got map[string]json.RawMessage, want [][2]string) error {
	var missing, wrong []string
	seen := 0
	for _, kv := range want {
		v, ok := got[kv[0]]
		switch {
		case !ok:
			missing = append(missing, kv[0])
		case !sameString(v, kv[1]):
			wrong = append(wrong, fmt.Sprintf("%q is %s, want %q", kv[0], clip(v), kv[1]))
		}
		if ok {
			seen++
		}
	}
	extra := len(got) - seen
	if len(missing) == 0 && len(wrong) == 0 && extra == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d entries, want %d", len(got), len(want))
	if len(missing) > 0 {
		msg += fmt.Sprintf("; %d keys missing (first %q)", len(missing), missing[0])
	}
	if len(wrong) > 0 {
		msg += fmt.Sprintf("; %d values differ (first %s)", len(wrong), wrong[0])
	}
	if extra > 0 {
		var keys []string
		for k := range got {
			if !slices.ContainsFunc(want, func(kv [2]string) bool { return kv[0] == k }) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		msg += fmt.Sprintf("; %d keys never written (first %q)", extra, keys[0])
	}
	return fmt.Errorf("%s", msg)
}

// oneReplyEach sends n GET_ONEs at once on a DEALER socket and checks that
// exactly n replies come back, in order, and nothing more within a while.
func (g *grader) oneReplyEach(i, n int) error {
	s, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		return err
	}
	defer s.Close()
	_ = s.SetLinger(0)
	_ = s.SetSndtimeo(g.cfg.Timeout)
	if err := s.Connect(g.repEndpoint(i)); err != nil {
		return err
	}
	kv := g.phase2Data(i)
	for j := range n {
		msg, _ := encode(map[string]string{"op": "GET_ONE", "key": kv[j%len(kv)][0]})
		if _, err := s.SendMessage("", msg); err != nil {
			return fmt.Errorf("sending request %d: %w", j+1, err)
		}
	}
	deadline := time.Now().Add(g.cfg.Timeout)
	for j := range n {
		_ = s.SetRcvtimeo(max(time.Until(deadline), time.Millisecond))
		frames, err := s.RecvMessageBytes(0)
		if err != nil {
			return fmt.Errorf("%d replies to %d requests within %v", j, n, g.cfg.Timeout)
		}
		r, err := decodeReply(frames[len(frames)-1])
		if err != nil {
			return fmt.Errorf("reply %d: %w", j+1, err)
		}
		e := kv[j%len(kv)]
		if err := checkGetOne(r, e[0], e[1]); err != nil {
			return fmt.Errorf("reply %d (in request order): %w", j+1, err)
		}
	}
	// Anything more is a reply too many.
	_ = s.SetRcvtimeo(500 * time.Millisecond)
	if frames, err := s.RecvMessageBytes(0); err == nil {
		return fmt.Errorf("a reply more than the %d requests: %s", n, clip(frames[len(frames)-1]))
	}
	return nil
}

package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
)

// deadline is the end of one attempt: RequestTimeout from now, or the
// context's deadline if sooner.
func (p *Producer) deadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// encode encodes req with a fresh id.
func (p *Producer) encode(req *protocol.Request) (msg, id []byte, err error) {
	id, _ = p.newID(nil)
	req.ID = id
	msg, err = protocol.AppendRequest(nil, p.codec, req)
	return msg, id, err
}

// call sends req to pr and returns its reply, retrying an attempt that
// failed in transport on a fresh socket when retryable allows it. An error
// reply is a *ReplyError.
func (p *Producer) call(ctx context.Context, pr *peer, req protocol.Request, timeout time.Duration) (protocol.Reply, error) {
	msg, id, err := p.encode(&req)
	if err != nil {
		return protocol.Reply{}, err
	}
	var last error
	busy := 0
	for attempt := 0; attempt <= p.cfg.Retries; attempt++ {
		if err := ctx.Err(); err != nil {
			return protocol.Reply{}, err
		}
		rep, err := p.attempt(ctx, pr, msg, id, timeout)
		if err == nil {
			if isBusy(rep, req.Op) && busy < protocol.BusyRetries && sleepCtx(ctx, protocol.BusyBackoff(busy)) {
				busy++
				attempt-- // a busy reply is no failed attempt
				continue
			}
			return rep, replyErr(rep)
		}
		last = err
		if !retryable(err, req.Op) {
			break
		}
	}
	pr.suspect()
	return protocol.Reply{}, &NodeError{Node: pr.name, Err: last}
}

func (p *Producer) attempt(ctx context.Context, pr *peer, msg, id []byte, timeout time.Duration) (protocol.Reply, error) {
	c, err := pr.take()
	if err != nil {
		return protocol.Reply{}, err
	}
	if err := c.send(msg); err != nil {
		pr.give(c, false)
		return protocol.Reply{}, err
	}
	rep, err := c.recv(id, p.deadline(ctx, timeout))
	pr.give(c, err == nil)
	return rep, err
}

// isBusy reports whether rep is a busy reply to a read, which is sent
// again after a pause (protocol.BusyBackoff).
func isBusy(rep protocol.Reply, op protocol.Op) bool {
	if rep.Err == nil || rep.Err.Code != protocol.CodeBusy {
		return false
	}
	switch op {
	case protocol.OpGetOne, protocol.OpGetAll, protocol.OpScan, protocol.OpDigest, protocol.OpStats, protocol.OpPing:
		return true
	}
	return false
}

// sleepCtx waits d, or less when ctx is done first; it reports whether it
// waited all of d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func replyErr(rep protocol.Reply) error {
	if rep.Status == protocol.StatusOK {
		return nil
	}
	if rep.Err == nil {
		return &ReplyError{Code: protocol.CodeInternal, Message: fmt.Sprintf("reply status %q", rep.Status)}
	}
	return &ReplyError{Code: rep.Err.Code, Message: rep.Err.Message}
}

// fanout sends req to every target at once and collects their replies
// within one deadline, then retries the targets that failed in transport
// when retryable allows it. errs[i] is
// nil when targets[i] answered OK.
func (p *Producer) fanout(ctx context.Context, targets []*peer, req protocol.Request, timeout time.Duration) ([]protocol.Reply, []error) {
	reps := make([]protocol.Reply, len(targets))
	errs := make([]error, len(targets))
	msg, id, err := p.encode(&req)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return reps, errs
	}
	pending := make([]int, len(targets))
	for i := range pending {
		pending[i] = i
	}
	conns := make([]*conn, len(targets))
	for attempt := 0; attempt <= p.cfg.Retries && len(pending) > 0; attempt++ {
		if err := ctx.Err(); err != nil {
			for _, i := range pending {
				errs[i] = err
			}
			return reps, errs
		}
		for _, i := range pending {
			c, err := targets[i].take()
			if err == nil {
				if err = c.send(msg); err != nil {
					targets[i].give(c, false)
				}
			}
			if err != nil {
				errs[i] = err
				continue
			}
			conns[i], errs[i] = c, nil
		}
		dl := p.deadline(ctx, timeout)
		for _, i := range pending {
			c := conns[i]
			if c == nil {
				continue
			}
			reps[i], errs[i] = c.recv(id, dl)
			targets[i].give(c, errs[i] == nil)
			conns[i] = nil
			if errs[i] == nil {
				errs[i] = replyErr(reps[i])
			}
		}
		pending = slices.DeleteFunc(pending, func(i int) bool { return !retryable(errs[i], req.Op) })
	}
	for i, err := range errs {
		if err != nil && transportErr(err) {
			targets[i].suspect()
			errs[i] = &NodeError{Node: targets[i].name, Err: err}
		}
	}
	return reps, errs
}

// write sends a PUT or DELETE to every replica of req.Key, versioned by the
// producer's clock unless req has a version, and checks the write
// consistency. It reports whether any replica held the key (DELETE).
func (p *Producer) write(ctx context.Context, req protocol.Request) (bool, error) {
	if err := p.enter(); err != nil {
		return false, err
	}
	defer p.leave()
	if req.Version.IsZero() {
		req.Version = p.clock.Now()
	}
	var buf [8]string
	st := p.st.Load()
	targets, err := st.targets(req.Key, buf[:])
	if err != nil {
		return false, err
	}
	reps, errs := p.fanout(ctx, targets, req, p.cfg.RequestTimeout)
	var acked []string
	var failed map[string]error
	existed := false
	for i, err := range errs {
		if err == nil {
			acked = append(acked, targets[i].name)
			existed = existed || reps[i].Deleted
			continue
		}
		var re *ReplyError
		if errors.As(err, &re) && re.Code != protocol.CodeInternal {
			return false, err // the request itself is wrong; every replica says so
		}
		if failed == nil {
			failed = map[string]error{}
		}
		failed[targets[i].name] = err
	}
	if !st.acked(req.Key, acked) {
		return existed, &NodesError{Op: fmt.Sprintf("%v %q", req.Op, req.Key), Kind: ErrQuorum, Acked: acked, Failed: failed}
	}
	return existed, nil
}

// Put stores value (the raw encoding of one value in the producer's codec,
// see EncodeValue) under key on every replica of key, acknowledged: it
// returns nil once the write quorum has applied it.
func (p *Producer) Put(ctx context.Context, key string, value []byte) error {
	_, err := p.write(ctx, protocol.Request{Op: protocol.OpPut, Key: key, Value: value})
	return err
}

// Delete removes key from every replica. It reports whether any replica
// held it.
func (p *Producer) Delete(ctx context.Context, key string) (bool, error) {
	return p.write(ctx, protocol.Request{Op: protocol.OpDelete, Key: key})
}

// Get returns the raw value of key (in the producer's codec), asking the
// replicas in preference order (recently failed ones last) until one holds
// it. It returns an error wrapping ErrNotFound when every replica that
// answered lacks the key, and ErrUnavailable when none answered.
func (p *Producer) Get(ctx context.Context, key string) ([]byte, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var buf [8]string
	st := p.st.Load()
	targets, err := st.routeInto(nil, key, buf[:], false)
	if err != nil {
		return nil, err
	}
	orderForRead(targets)
	if p.cfg.ReadConsistency != One {
		return p.getQuorum(ctx, st, key, targets)
	}
	var failed map[string]error
	notFound := false
	for _, pr := range targets {
		rep, err := p.call(ctx, pr, protocol.Request{Op: protocol.OpGetOne, Key: key}, p.cfg.RequestTimeout)
		if err == nil {
			return rep.Value, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *ReplyError
		switch {
		case errors.Is(err, ErrNotFound):
			notFound = true
		case errors.As(err, &re) && re.Code != protocol.CodeInternal && re.Code != protocol.CodeNotReady:
			return nil, err // bad key, unconvertible value: no replica will do better
		default:
			if failed == nil {
				failed = map[string]error{}
			}
			failed[pr.name] = err
		}
	}
	if notFound {
		return nil, fmt.Errorf("key %q: %w", key, ErrNotFound)
	}
	return nil, &NodesError{Op: fmt.Sprintf("GET_ONE %q", key), Kind: ErrUnavailable, Failed: failed}
}

// orderForRead moves the peers that failed recently to the end, keeping
// the preference order otherwise.
func orderForRead(targets []*peer) {
	if len(targets) < 2 {
		return
	}
	now := time.Now().UnixNano()
	slices.SortStableFunc(targets, func(a, b *peer) int {
		sa, sb := a.suspected(now), b.suspected(now)
		switch {
		case sa == sb:
			return 0
		case sb:
			return -1
		}
		return 1
	})
}

// answer is one replica's answer to a GET_ONE with versions: its value, or
// none (found false) with the version of its tombstone, zero when it holds
// no record.
type answer struct {
	pr      *peer
	found   bool
	value   []byte
	version hlc.Version
}

// getQuorum is Get at ReadConsistency Quorum or All: it asks that many of
// the key's replicas (the next ones when one fails), returns the newest
// version among their answers (a tombstone being "not found"), and writes
// the newest back to the replicas that answered with an older one (read
// repair; a failed repair is left to anti-entropy). The repair writes the
// value as read, in the producer's codec.
func (p *Producer) getQuorum(ctx context.Context, st *state, key string, targets []*peer) ([]byte, error) {
	var buf [8]string
	names := st.table.AppendPartitionPrefs(buf[:0], st.table.Partition(key))
	need := p.cfg.ReadConsistency.Need(len(names))
	if len(targets) < need {
		return nil, st.unavailable(fmt.Sprintf("GET_ONE %q", key), names, need)
	}
	req := protocol.Request{Op: protocol.OpGetOne, Key: key, Versions: true}
	var answers []answer
	var failed map[string]error
	for next := 0; len(answers) < need && next < len(targets); {
		ask := targets[next:min(len(targets), next+need-len(answers))]
		next += len(ask)
		reps, errs := p.fanout(ctx, ask, req, p.cfg.RequestTimeout)
		for i, err := range errs {
			var re *ReplyError
			switch {
			case err == nil:
				answers = append(answers, answer{pr: ask[i], found: true, value: reps[i].Value, version: reps[i].Version})
			case errors.Is(err, ErrNotFound):
				answers = append(answers, answer{pr: ask[i], version: reps[i].Version})
			case errors.As(err, &re) && re.Code != protocol.CodeInternal && re.Code != protocol.CodeNotReady:
				return nil, err
			default:
				if failed == nil {
					failed = map[string]error{}
				}
				failed[ask[i].name] = err
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if len(answers) < need {
		var acked []string
		for _, a := range answers {
			acked = append(acked, a.pr.name)
		}
		return nil, &NodesError{Op: fmt.Sprintf("GET_ONE %q needs %d replicas", key, need), Kind: ErrUnavailable, Acked: acked, Failed: failed}
	}
	newest := answers[0]
	for _, a := range answers[1:] {
		if a.version.Compare(newest.version) > 0 {
			newest = a
		}
	}
	_ = p.clock.Observe(newest.version)
	p.readRepair(ctx, key, newest, answers)
	if !newest.found {
		return nil, fmt.Errorf("key %q: %w", key, ErrNotFound)
	}
	return newest.value, nil
}

// readRepair writes newest to the replicas whose answer is older.
func (p *Producer) readRepair(ctx context.Context, key string, newest answer, answers []answer) {
	if newest.version.IsZero() {
		return // nothing versioned to repair with
	}
	var stale []*peer
	for _, a := range answers {
		if a.version.Compare(newest.version) < 0 {
			stale = append(stale, a.pr)
		}
	}
	if len(stale) == 0 {
		return
	}
	req := protocol.Request{Op: protocol.OpDelete, Key: key, Version: newest.version}
	if newest.found {
		req = protocol.Request{Op: protocol.OpPut, Key: key, Value: newest.value, Version: newest.version}
	}
	_, errs := p.fanout(ctx, stale, req, p.cfg.RequestTimeout)
	for i, err := range errs {
		if err != nil {
			p.log.Debug("read repair failed; anti-entropy will fix the replica", "key", key, "node", stale[i].name, "err", err)
		}
	}
}

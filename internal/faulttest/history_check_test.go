package faulttest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// This file holds the history test's records and its checks. The checks are
// pure (no cluster): history_unit_test.go tests them on hand-made histories.

// opKind is what a recorded operation did.
type opKind uint8

const (
	opPut opKind = iota + 1
	opDelete
	opGet
)

func (k opKind) String() string {
	switch k {
	case opPut:
		return "put"
	case opDelete:
		return "delete"
	case opGet:
		return "get"
	}
	return fmt.Sprintf("opKind(%d)", uint8(k))
}

// outcome is what the client learned about an operation.
type outcome uint8

const (
	// acked: the producer acknowledged the write (the consistency level was
	// met), or the read answered.
	acked outcome = iota + 1
	// failed: the operation certainly had no effect. Only a write the
	// producer refused before sending anything (too few of the key's
	// replicas passing: ErrUnavailable, ErrNoNodes) is recorded failed.
	failed
	// unknown: no answer in time, too few acknowledgements, or any other
	// error after the request may have left: the write may have been
	// applied on some replicas, now or later (a stopped node applies what
	// was queued for it when it resumes).
	unknown
)

func (o outcome) String() string {
	switch o {
	case acked:
		return "acked"
	case failed:
		return "failed"
	case unknown:
		return "unknown"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// histOp is one operation of a history. Times are offsets from the start of
// the history on the test process's monotonic clock, which every producer
// shares (they all run in the test process): Start is taken before the
// operation is handed to the producer, End after its result came back, so
// the real interval in which the operation took effect lies within.
type histOp struct {
	Client int // producer index
	Worker int // goroutine index across all producers (porcupine's client)
	Kind   opKind
	Key    string
	// Value is the raw JSON value written (put) or read (get, when Found).
	// Every put writes a value no other put writes.
	Value      string
	Found      bool // get: the key was found
	Start, End time.Duration
	Outcome    outcome
	Pipelined  bool   // went through Producer.Do
	Err        string // the error, when not acked
}

// effective reports whether the write may have taken effect.
func (o *histOp) effective() bool { return o.Kind != opGet && o.Outcome != failed }

func (o *histOp) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%9s..%-9s p%d %-6s", fmtOffset(o.Start), fmtOffset(o.End), o.Client, o.Kind)
	switch {
	case o.Kind == opPut:
		fmt.Fprintf(&b, " %-12s", o.Value)
	case o.Kind == opGet && o.Outcome == acked && o.Found:
		fmt.Fprintf(&b, " -> %-9s", o.Value)
	case o.Kind == opGet && o.Outcome == acked:
		fmt.Fprintf(&b, " -> %-9s", "absent")
	default:
		fmt.Fprintf(&b, " %-12s", "")
	}
	fmt.Fprintf(&b, " %s", o.Outcome)
	if o.Pipelined {
		b.WriteString(" (Do)")
	}
	if o.Err != "" {
		fmt.Fprintf(&b, ": %s", truncate(o.Err, 160))
	}
	return b.String()
}

func fmtOffset(d time.Duration) string {
	if d == math.MaxInt64 {
		return "never"
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// byKey groups ops by key, each group sorted by Start.
func byKey(ops []histOp) map[string][]histOp {
	m := map[string][]histOp{}
	for _, o := range ops {
		m[o.Key] = append(m[o.Key], o)
	}
	for _, g := range m {
		slices.SortStableFunc(g, func(a, b histOp) int { return cmp.Compare(a.Start, b.Start) })
	}
	return m
}

// describeHistory renders ops (one key's, sorted), at most max lines: the
// last ones, which decide the final state.
func describeHistory(ops []histOp, max int) string {
	var b strings.Builder
	if len(ops) > max {
		fmt.Fprintf(&b, "    ... %d earlier operations\n", len(ops)-max)
		ops = ops[len(ops)-max:]
	}
	for i := range ops {
		fmt.Fprintf(&b, "    %s\n", &ops[i])
	}
	return b.String()
}

// replicaState is what one node held for a key when the checks read it.
type replicaState struct {
	Node    string
	Present bool
	Value   string // raw JSON, when Present
	Err     string // the read failed (no answer, not ready, ...)
}

func (s replicaState) String() string {
	switch {
	case s.Err != "":
		return fmt.Sprintf("%s=<%s>", s.Node, truncate(s.Err, 80))
	case s.Present:
		return s.Node + "=" + s.Value
	}
	return s.Node + "=absent"
}

// sameState reports whether every replica was read and they agree on
// presence and value.
func sameState(states []replicaState) bool {
	for _, s := range states {
		if s.Err != "" || s.Present != states[0].Present || s.Value != states[0].Value {
			return false
		}
	}
	return true
}

// supersedeMargin is how much later than a write W's completion another
// acknowledged write W2 of the same key must have been invoked before the
// checks take W2 to come after W, so that W's value (or W's delete) can no
// longer be the key's final state.
//
// In real time W2 does come after W as soon as it is invoked after W
// completed, and the recorded times are exact for that purpose (one
// monotonic clock; Start is taken early and End late, so the recorded
// intervals contain the real ones). But replicas order the writes of a key
// by the versions the writers give them (hybrid logical clock readings,
// internal/hlc: Unix milliseconds plus a logical counter, ties broken by
// writer id), and every producer has its own clock: two writes a fraction
// of a millisecond apart by different producers, or further apart by
// processes whose wall clocks differ a little, can be ordered the other way
// by last-writer-wins. 50 ms is far above the clock's millisecond
// granularity and the skew of one machine's processes, and far below the
// seconds over which faults separate writes, so it forgives only that.
const supersedeMargin = 50 * time.Millisecond

// verdict is the judgement of one replica's final state of a key.
type verdict struct {
	OK bool
	// Resurrected: the key holds a value although an acknowledged delete
	// was invoked after every put of it had completed (check 3).
	Resurrected bool
	Why         string
}

// judgeFinal decides whether a key's final state on one replica (present
// with value, or absent) is allowed by the history of its writes (sorted or
// not; reads are ignored):
//
//   - check 2, no acknowledged write lost unless superseded: the state must
//     be the effect of some write W (a put of that value, or a delete for
//     absent; or, for absent, the initial state before any write) that was
//     acknowledged or whose outcome is unknown, such that no acknowledged
//     write of the key was invoked more than margin after W completed;
//   - check 3, no deleted key back: if an acknowledged delete was invoked
//     more than margin after every put of the key (acknowledged or unknown)
//     completed, the key must be absent (no put can have been invoked after
//     it then: a later one would have completed later). Check 3 is the part
//     of check 2 that concerns deletes, reported on its own.
func judgeFinal(ops []histOp, present bool, value string, margin time.Duration) verdict {
	var lastAcked *histOp // the acknowledged write invoked last
	var lastPutEnd time.Duration = math.MinInt64
	var writes []*histOp
	for i := range ops {
		o := &ops[i]
		if !o.effective() {
			continue
		}
		writes = append(writes, o)
		if o.Outcome == acked && (lastAcked == nil || o.Start > lastAcked.Start) {
			lastAcked = o
		}
		if o.Kind == opPut {
			lastPutEnd = max(lastPutEnd, o.End)
		}
	}
	// superseded reports whether an acknowledged write was invoked more
	// than margin after a write that completed at end.
	superseded := func(end time.Duration) bool {
		return lastAcked != nil && (end == math.MinInt64 || lastAcked.Start > end+margin)
	}
	if !present {
		if !superseded(math.MinInt64) {
			return verdict{OK: true} // never written with acknowledgement
		}
		for _, w := range writes {
			if w.Kind == opDelete && !superseded(w.End) {
				return verdict{OK: true}
			}
		}
		return verdict{Why: fmt.Sprintf("absent, but no delete can be the last write: the acknowledged %s invoked at %s came more than %v after every delete completed",
			lastAcked.Kind, fmtOffset(lastAcked.Start), margin)}
	}
	// Present: the put of that value.
	var w *histOp
	for i := range ops {
		if ops[i].Kind == opPut && ops[i].Value == value {
			w = &ops[i]
			break
		}
	}
	if w == nil {
		return verdict{Why: fmt.Sprintf("holds %s, which no put of this key wrote", value)}
	}
	for i := range ops {
		o := &ops[i]
		if o.Kind == opDelete && o.Outcome == acked && o.Start > lastPutEnd+margin {
			return verdict{Resurrected: true, Why: fmt.Sprintf("holds %s, but the acknowledged delete invoked at %s came after every put of the key had completed (the last at %s)",
				value, fmtOffset(o.Start), fmtOffset(lastPutEnd))}
		}
	}
	switch {
	case w.Outcome == failed:
		return verdict{Why: fmt.Sprintf("holds %s, written by a put refused before it was sent (%s)", value, w)}
	case superseded(w.End):
		return verdict{Why: fmt.Sprintf("holds %s (put %s, completed at %s), superseded by the acknowledged %s invoked at %s",
			value, w.Outcome, fmtOffset(w.End), lastAcked.Kind, fmtOffset(lastAcked.Start))}
	}
	return verdict{OK: true}
}

// Register model: one key's value, checked for linearizability with
// porcupine. Each key has one writer goroutine (one producer), which puts,
// deletes and reads it one operation at a time; a write whose outcome is
// unknown stays pending forever (it may take effect at any later time), a
// write refused before it was sent and a read that failed are left out.

// regInput is an operation of the register model.
type regInput struct {
	Kind  opKind
	Value string // put
}

// regOutput is a read's answer (writes answer nothing the model checks).
type regOutput struct {
	Found bool
	Value string
}

// registerModel is a single register, absent ("") initially; partitioned by
// key so that each key is checked alone.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		m := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Metadata.(string)
			if _, ok := m[k]; !ok {
				keys = append(keys, k)
			}
			m[k] = append(m[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, m[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		switch in.Kind {
		case opPut:
			return true, in.Value
		case opDelete:
			return true, ""
		}
		out := output.(regOutput)
		s := state.(string)
		if !out.Found {
			return s == "", s
		}
		return out.Value == s, s
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		switch in.Kind {
		case opPut:
			return "put " + in.Value
		case opDelete:
			return "delete"
		}
		if out := output.(regOutput); out.Found {
			return "get -> " + out.Value
		}
		return "get -> absent"
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "absent"
		}
		return state.(string)
	},
	DescribeOperationMetadata: func(info any) string { return fmt.Sprint(info) },
}

// registerOps converts recorded ops (of any keys) for porcupine.
func registerOps(ops []histOp) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		if o.Outcome == failed || (o.Kind == opGet && o.Outcome != acked) {
			continue
		}
		ret := int64(o.End)
		if o.Outcome == unknown {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{
			ClientId: o.Worker,
			Input:    regInput{Kind: o.Kind, Value: o.Value},
			Call:     int64(o.Start),
			Output:   regOutput{Found: o.Found, Value: o.Value},
			Return:   ret,
			Metadata: o.Key,
		})
	}
	return out
}

// checkRegister checks one key's history against the register model.
func checkRegister(ops []histOp, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(registerModel, registerOps(ops), timeout)
}

// firstViolation returns the index in ops (one key's, sorted by Start) of
// the operation with which the history stops being linearizable: the last
// operation of its shortest prefix (by invocation) that is not; -1 when the
// whole history is linearizable or undecided. A key's operations come from
// one goroutine, one at a time, so an operation invoked later cannot explain
// an earlier one and the prefixes can be searched by bisection.
func firstViolation(ops []histOp, timeout time.Duration) int {
	if checkRegister(ops, timeout) != porcupine.Illegal {
		return -1
	}
	lo, hi := 0, len(ops) // ops[:lo] is linearizable, ops[:hi] is not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if checkRegister(ops[:mid], timeout) == porcupine.Illegal {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi - 1
}

// describeAround renders ops[at-before : at+after+1] (sorted ops of one
// key), marking ops[at].
func describeAround(ops []histOp, at, before, after int) string {
	var b strings.Builder
	from, to := max(0, at-before), min(len(ops), at+after+1)
	if from > 0 {
		fmt.Fprintf(&b, "    ... %d earlier operations\n", from)
	}
	for i := from; i < to; i++ {
		mark := "  "
		if i == at {
			mark = ">>"
		}
		fmt.Fprintf(&b, "  %s%s\n", mark, &ops[i])
	}
	if to < len(ops) {
		fmt.Fprintf(&b, "    ... %d later operations\n", len(ops)-to)
	}
	return b.String()
}

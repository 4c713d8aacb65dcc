package faulttest

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// ms is a history offset in milliseconds.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func put(v string, start, end int, o outcome) histOp {
	return histOp{Kind: opPut, Key: "k", Value: v, Start: ms(start), End: ms(end), Outcome: o}
}

func del(start, end int, o outcome) histOp {
	return histOp{Kind: opDelete, Key: "k", Start: ms(start), End: ms(end), Outcome: o}
}

func get(v string, found bool, start, end int) histOp {
	return histOp{Kind: opGet, Key: "k", Value: v, Found: found, Start: ms(start), End: ms(end), Outcome: acked}
}

// TestJudgeFinal checks the history test's checks 2 and 3 on hand-made
// histories of one key (times in ms, margin 50 ms).
func TestJudgeFinal(t *testing.T) {
	tests := []struct {
		name        string
		ops         []histOp
		present     bool
		value       string
		ok          bool
		resurrected bool
	}{
		{name: "never written, absent", ops: nil, ok: true},
		{name: "only failed writes, absent", ops: []histOp{put("a", 0, 1, failed)}, ok: true},
		{name: "value of a failed put", ops: []histOp{put("a", 0, 1, failed)}, present: true, value: "a"},
		{name: "value nobody wrote", ops: []histOp{put("a", 0, 1, acked)}, present: true, value: "z"},
		{name: "last acked put", ops: []histOp{put("a", 0, 10, acked), put("b", 100, 110, acked)}, present: true, value: "b", ok: true},
		{name: "acked write lost", ops: []histOp{put("a", 0, 10, acked), put("b", 100, 110, acked)}, present: true, value: "a"},
		{name: "acked write lost to absent", ops: []histOp{put("a", 0, 10, acked)}},
		{name: "concurrent puts, either wins (1)", ops: []histOp{put("a", 0, 100, acked), put("b", 50, 60, acked)}, present: true, value: "a", ok: true},
		{name: "concurrent puts, either wins (2)", ops: []histOp{put("a", 0, 100, acked), put("b", 50, 60, acked)}, present: true, value: "b", ok: true},
		{name: "within the margin", ops: []histOp{put("a", 0, 10, acked), put("b", 40, 50, acked)}, present: true, value: "a", ok: true},
		{name: "just past the margin", ops: []histOp{put("a", 0, 10, acked), put("b", 61, 70, acked)}, present: true, value: "a"},
		{name: "unknown put may win over an earlier ack", ops: []histOp{put("a", 0, 10, acked), put("b", 100, 2000, unknown)}, present: true, value: "b", ok: true},
		{name: "unknown put may have failed", ops: []histOp{put("a", 0, 10, acked), put("b", 100, 2000, unknown)}, present: true, value: "a", ok: true},
		{name: "unknown put superseded by a later ack", ops: []histOp{put("b", 0, 10, unknown), put("a", 100, 110, acked)}, present: true, value: "b"},
		{name: "unknown delete may win", ops: []histOp{put("a", 0, 10, acked), del(100, 2000, unknown)}, ok: true},
		{name: "delete after put", ops: []histOp{put("a", 0, 10, acked), del(100, 110, acked)}, ok: true},
		{name: "deleted key back", ops: []histOp{put("a", 0, 10, acked), del(100, 110, acked)}, present: true, value: "a", resurrected: true},
		{name: "deleted key back, unknown put before", ops: []histOp{put("a", 0, 10, unknown), del(100, 110, acked)}, present: true, value: "a", resurrected: true},
		{name: "delete concurrent with a put", ops: []histOp{put("a", 0, 100, acked), del(50, 60, acked)}, present: true, value: "a", ok: true},
		{name: "put after delete", ops: []histOp{put("a", 0, 10, acked), del(100, 110, acked), put("b", 200, 210, acked)}, present: true, value: "b", ok: true},
		{name: "put after delete lost", ops: []histOp{put("a", 0, 10, acked), del(100, 110, acked), put("b", 200, 210, acked)}},
		{name: "reads are ignored", ops: []histOp{put("a", 0, 10, acked), get("x", true, 100, 110)}, present: true, value: "a", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judgeFinal(tc.ops, tc.present, tc.value, 50*time.Millisecond)
			require.Equal(t, tc.ok, v.OK, v.Why)
			require.Equal(t, tc.resurrected, v.Resurrected, v.Why)
			if !v.OK {
				require.NotEmpty(t, v.Why)
			}
		})
	}
}

// TestRegisterModel checks the register model of the linearizability check
// on hand-made histories of one key.
func TestRegisterModel(t *testing.T) {
	tests := []struct {
		name string
		ops  []histOp
		want porcupine.CheckResult
	}{
		{name: "read your write", ops: []histOp{put("a", 0, 10, acked), get("a", true, 20, 30)}, want: porcupine.Ok},
		{name: "initially absent", ops: []histOp{get("", false, 0, 10)}, want: porcupine.Ok},
		{name: "stale read", ops: []histOp{put("a", 0, 10, acked), put("b", 20, 30, acked), get("a", true, 40, 50)}, want: porcupine.Illegal},
		{name: "read of a deleted key", ops: []histOp{put("a", 0, 10, acked), del(20, 30, acked), get("a", true, 40, 50)}, want: porcupine.Illegal},
		{name: "lost write", ops: []histOp{put("a", 0, 10, acked), get("", false, 20, 30)}, want: porcupine.Illegal},
		{name: "concurrent read", ops: []histOp{put("a", 0, 10, acked), put("b", 20, 60, acked), get("a", true, 30, 40), get("b", true, 70, 80)}, want: porcupine.Ok},
		{name: "unknown write takes effect late", ops: []histOp{put("a", 0, 10, unknown), put("b", 20, 30, acked), get("b", true, 40, 50), get("a", true, 60, 70)}, want: porcupine.Ok},
		{name: "unknown write never takes effect", ops: []histOp{put("a", 0, 10, unknown), get("", false, 60, 70)}, want: porcupine.Ok},
		{name: "failed write has no effect", ops: []histOp{put("a", 0, 10, failed), get("a", true, 60, 70)}, want: porcupine.Illegal},
		{name: "value flips back", ops: []histOp{put("a", 0, 10, acked), put("b", 20, 30, unknown), get("b", true, 40, 50), get("a", true, 60, 70)}, want: porcupine.Illegal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, checkRegister(tc.ops, 10*time.Second))
		})
	}
}

// TestSameState checks check 1's comparison of a key's replicas.
func TestSameState(t *testing.T) {
	a := replicaState{Node: "n1", Present: true, Value: `"a"`}
	require.True(t, sameState([]replicaState{a, {Node: "n2", Present: true, Value: `"a"`}}))
	require.True(t, sameState([]replicaState{{Node: "n1"}, {Node: "n2"}}))
	require.False(t, sameState([]replicaState{a, {Node: "n2"}}))
	require.False(t, sameState([]replicaState{a, {Node: "n2", Present: true, Value: `"b"`}}))
	require.False(t, sameState([]replicaState{a, {Node: "n2", Err: "no answer"}}))
}

// TestFirstViolation checks that the first operation a register history
// cannot explain is found.
func TestFirstViolation(t *testing.T) {
	ops := []histOp{put("a", 0, 10, acked), get("a", true, 20, 30), put("b", 40, 50, acked),
		get("a", true, 60, 70), get("b", true, 80, 90)}
	require.Equal(t, 3, firstViolation(ops, 10*time.Second))
	require.Equal(t, -1, firstViolation(ops[:3], 10*time.Second))
	require.Contains(t, describeAround(ops, 3, 1, 0), ">>")
}

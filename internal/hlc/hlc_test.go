package hlc

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTextRoundTrip(t *testing.T) {
	for _, v := range []Version{{}, {Time: 1, Writer: 2}, {Time: ^uint64(0), Writer: ^uint64(0)}, {Time: At(time.Unix(1700000000, 0)) | 7, Writer: 0xdeadbeef}} {
		s := v.String()
		if len(s) != TextLen {
			t.Fatalf("%v: text %q has %d characters", v, s, len(s))
		}
		got, err := Parse(s)
		if err != nil || got != v {
			t.Fatalf("Parse(%q) = %v, %v; want %v", s, got, err, v)
		}
		if got := FromBinary(v.AppendBinary(nil)); got != v {
			t.Fatalf("binary round trip of %v gave %v", v, got)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "0", "0000000000000000000000000000000g", "00000000000000000000000000000000 "} {
		if _, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", s, err)
		}
	}
}

// TestTextOrder checks that the text forms sort as the versions do.
func TestTextOrder(t *testing.T) {
	vs := []Version{{}, {Time: 1}, {Time: 1, Writer: 1}, {Time: 1 << 40, Writer: 0}, {Time: 1<<40 + 1, Writer: 0}, {Time: ^uint64(0)}}
	for i := range vs {
		for j := range vs {
			want := vs[i].Compare(vs[j])
			a, b := vs[i].String(), vs[j].String()
			got := 0
			if a < b {
				got = -1
			} else if a > b {
				got = 1
			}
			if got != want {
				t.Errorf("%v vs %v: text order %d, version order %d", vs[i], vs[j], got, want)
			}
		}
	}
}

func TestClockMonotonic(t *testing.T) {
	c := NewClock(5, 0)
	fixed := time.Unix(1700000000, 0)
	c.now = func() time.Time { return fixed }
	var prev Version
	for range 1000 {
		v := c.Now()
		if !v.Newer(prev) || v.Writer != 5 {
			t.Fatalf("%v not newer than %v", v, prev)
		}
		prev = v
	}
	base := c.Reserve(10)
	if !base.Newer(prev) {
		t.Fatalf("reserved base %v not newer than %v", base, prev)
	}
	if next := c.Now(); next.Compare(base.Add(9)) <= 0 {
		t.Fatalf("Now %v did not skip the reserved range ending %v", next, base.Add(9))
	}
}

func TestClockObserve(t *testing.T) {
	c := NewClock(1, time.Second)
	now := time.Unix(1700000000, 0)
	c.now = func() time.Time { return now }
	seen := Version{Time: At(now.Add(500 * time.Millisecond)), Writer: 9}
	if err := c.Observe(seen); err != nil {
		t.Fatal(err)
	}
	if v := c.Now(); !v.Newer(seen) {
		t.Fatalf("version %v issued after observing %v is not newer", v, seen)
	}
	far := Version{Time: At(now.Add(time.Minute))}
	if err := c.Observe(far); !errors.Is(err, ErrFuture) {
		t.Fatalf("Observe of a version a minute ahead = %v, want ErrFuture", err)
	}
	if v := c.Now(); v.Newer(far) {
		t.Fatalf("a refused version moved the clock: %v", v)
	}
}

func TestClockConcurrent(t *testing.T) {
	c := NewClock(1, 0)
	const n, per = 4, 5000
	out := make([][]Version, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for range per {
				out[i] = append(out[i], c.Now())
			}
		})
	}
	wg.Wait()
	seen := map[Version]bool{}
	for _, vs := range out {
		for _, v := range vs {
			if seen[v] {
				t.Fatalf("version %v issued twice", v)
			}
			seen[v] = true
		}
	}
}

func BenchmarkClockNow(b *testing.B) {
	c := NewClock(1, 0)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Now()
	}
}

func BenchmarkAppendText(b *testing.B) {
	v := Version{Time: At(time.Now()), Writer: RandomWriter()}
	buf := make([]byte, 0, TextLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = v.AppendText(buf[:0])
	}
}

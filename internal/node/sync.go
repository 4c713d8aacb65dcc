package node

import (
	"strings"
	"sync"
	"time"

	"github.com/zshard/zshard/internal/protocol"
)

// tokenSet remembers the most recent SYNC tokens applied by the ingest
// loop; the oldest is forgotten when it is full.
type tokenSet struct {
	mu   sync.Mutex
	m    map[string]struct{}
	ring []string
	next int
}

func newTokenSet(capacity int) *tokenSet {
	return &tokenSet{m: make(map[string]struct{}), ring: make([]string, 0, capacity)}
}

func (t *tokenSet) add(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[tok]; ok {
		return
	}
	tok = strings.Clone(tok) // do not pin the message the token came in
	if len(t.ring) < cap(t.ring) {
		t.ring = append(t.ring, tok)
	} else {
		delete(t.m, t.ring[t.next])
		t.ring[t.next] = tok
		t.next = (t.next + 1) % len(t.ring)
	}
	t.m[tok] = struct{}{}
}

func (t *tokenSet) has(tok string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[tok]
	return ok
}

// syncWaiter is a SYNC request whose token has not been applied yet; the
// request loop answers it when the token arrives or the deadline passes.
type syncWaiter struct {
	envelope [][]byte
	codec    protocol.Codec
	id       []byte
	token    string
	deadline time.Time
	start    time.Time // when it arrived; zero unless Config.Metrics
}

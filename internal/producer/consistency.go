package producer

import (
	"fmt"
	"strings"
)

// Consistency is how many of a key's replicas (its R+1 intended nodes,
// down ones included) an operation needs to answer.
type Consistency uint8

// The consistency levels. The zero value means the operation's default.
const (
	ConsistencyDefault Consistency = iota
	// One: any one replica.
	One
	// Quorum: a majority, n/2+1 of n replicas.
	Quorum
	// All: every replica.
	All
)

var consistencyNames = [...]string{ConsistencyDefault: "default", One: "one", Quorum: "quorum", All: "all"}

func (c Consistency) String() string {
	if int(c) < len(consistencyNames) {
		return consistencyNames[c]
	}
	return fmt.Sprintf("Consistency(%d)", c)
}

// Valid reports whether c is a known level.
func (c Consistency) Valid() bool { return c <= All }

// ParseConsistency reads "one", "quorum" or "all".
func ParseConsistency(s string) (Consistency, error) {
	switch strings.ToLower(s) {
	case "one", "1":
		return One, nil
	case "quorum":
		return Quorum, nil
	case "all":
		return All, nil
	}
	return ConsistencyDefault, fmt.Errorf("consistency %q: want one, quorum or all", s)
}

// Need returns how many of n replicas an operation at c needs (at least 1
// when n > 0).
func (c Consistency) Need(n int) int {
	switch {
	case n <= 0:
		return 0
	case c == One:
		return 1
	case c == All:
		return n
	}
	return n/2 + 1
}

package protocol

// Op is an operation of protocol v1. On the wire it is the exact,
// case-sensitive string returned by String.
type Op uint8

// The operations of protocol v1.
const (
	OpInvalid Op = iota
	OpPut
	OpGetOne
	OpGetAll
	OpDelete
	OpScan
	OpBatch
	OpSync
	OpPing
	OpStats
	OpDigest
	OpDeletePartitions
	numOps
)

var opNames = [numOps]string{
	OpInvalid: "",
	OpPut:     "PUT",
	OpGetOne:  "GET_ONE",
	OpGetAll:  "GET_ALL",
	OpDelete:  "DELETE",
	OpScan:    "SCAN",
	OpBatch:   "BATCH",
	OpSync:    "SYNC",
	OpPing:    "PING",
	OpStats:   "STATS",

	OpDigest:           "DIGEST",
	OpDeletePartitions: "DELETE_PARTITIONS",
}

// Ops lists every valid operation in a stable order.
var Ops = []Op{OpPut, OpGetOne, OpGetAll, OpDelete, OpScan, OpBatch, OpSync, OpPing, OpStats, OpDigest, OpDeletePartitions}

// String returns the wire name of op.
func (op Op) String() string {
	if op < numOps {
		return opNames[op]
	}
	return ""
}

// ParseOp returns the Op named s, or OpInvalid.
func ParseOp(s string) Op {
	switch s {
	case "PUT":
		return OpPut
	case "GET_ONE":
		return OpGetOne
	case "GET_ALL":
		return OpGetAll
	case "DELETE":
		return OpDelete
	case "SCAN":
		return OpScan
	case "BATCH":
		return OpBatch
	case "SYNC":
		return OpSync
	case "PING":
		return OpPing
	case "STATS":
		return OpStats
	case "DIGEST":
		return OpDigest
	case "DELETE_PARTITIONS":
		return OpDeletePartitions
	}
	return OpInvalid
}

// HasKey reports whether op requires a key.
func (op Op) HasKey() bool { return op == OpPut || op == OpGetOne || op == OpDelete }

// Ingestible reports whether op may arrive on the ingest (PULL) endpoint:
// PUT, DELETE, BATCH of those, and the SYNC marker.
func (op Op) Ingestible() bool {
	return op == OpPut || op == OpDelete || op == OpBatch || op == OpSync
}

package protocol

import (
	"errors"
	"fmt"
)

// Code is the machine-readable error code of an error reply
// ({"status":"error","error":"<code>","message":"..."}).
type Code string

// Error codes of protocol v1. Clients must treat an unknown code like
// CodeInternal.
const (
	// CodeBadRequest: the message is not a well-formed request (not JSON or
	// msgpack, not an object/map, a field has the wrong type, a required
	// field is missing, multipart or empty message).
	CodeBadRequest Code = "bad_request"
	// CodeUnknownOp: "op" names no operation of this protocol version.
	CodeUnknownOp Code = "unknown_op"
	// CodeNotFound: GET_ONE of a key the node does not hold.
	CodeNotFound Code = "not_found"
	// CodeTooLarge: a key, value, message, batch or reply exceeds a limit.
	CodeTooLarge Code = "too_large"
	// CodeUnconvertible: a stored value cannot be represented in the codec
	// of the request that reads it (for example a msgpack map with integer
	// keys read over JSON).
	CodeUnconvertible Code = "unconvertible"
	// CodeTimeout: a SYNC barrier did not see its token in time.
	CodeTimeout Code = "timeout"
	// CodeWrongEpoch: reserved for the rebalancing protocol.
	CodeWrongEpoch Code = "wrong_epoch"
	// CodeNotReady: a read (GET_ONE, GET_ALL, SCAN, DIGEST) on a node that is
	// catching up from its replicas after a restart and may hold stale
	// values; ask another replica. Writes are accepted meanwhile.
	CodeNotReady Code = "not_ready"
	// CodeInternal: the node failed for a reason of its own.
	CodeInternal Code = "internal"
	// CodeForbidden: on a node running CURVE, a maintenance operation
	// (DELETE_PARTITIONS, a raw PUT, SCAN with raw or versions, DIGEST) from
	// a key that is not an admin's. Counted in STATS "curve", not "errors".
	CodeForbidden Code = "forbidden"
)

// Codes lists every code of protocol v1, in a stable order.
var Codes = []Code{
	CodeBadRequest, CodeUnknownOp, CodeNotFound, CodeTooLarge,
	CodeUnconvertible, CodeTimeout, CodeWrongEpoch, CodeNotReady, CodeInternal,
}

// Error is a protocol error: it travels to the client as an error reply.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error { return errorf(code, format, args...) }

// AsError returns err as an *Error; errors that are not protocol errors
// become CodeInternal.
func AsError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

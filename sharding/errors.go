package sharding

import "errors"

// Errors returned by the package; wrapped with %w, so test with errors.Is.
var (
	// ErrNoNodes means a placement was asked for an empty membership.
	ErrNoNodes = errors.New("sharding: no nodes")
	// ErrTooManyNodes means the membership exceeds MaxNodes.
	ErrTooManyNodes = errors.New("sharding: too many nodes")
	// ErrEmptyName means a node has an empty name.
	ErrEmptyName = errors.New("sharding: empty node name")
	// ErrDuplicateNode means two nodes share a name.
	ErrDuplicateNode = errors.New("sharding: duplicate node name")
	// ErrBadWeight means a weight is negative, NaN, infinite or above MaxWeight.
	ErrBadWeight = errors.New("sharding: bad node weight")
	// ErrUnknownAlgorithm means the algorithm name is not one of Algorithms().
	ErrUnknownAlgorithm = errors.New("sharding: unknown algorithm")
	// ErrBadConfig means a Config field is out of range.
	ErrBadConfig = errors.New("sharding: bad config")
	// ErrIncompatible means two tables cannot be diffed (different partition counts).
	ErrIncompatible = errors.New("sharding: incompatible tables")
)

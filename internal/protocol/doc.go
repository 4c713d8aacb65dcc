// Package protocol implements zshard wire protocol v1: the request and reply
// messages a node exchanges with its clients, in JSON or msgpack.
//
// A message is one JSON object or one msgpack map. The codec is chosen per
// message by its first byte (see Detect) and a reply is always written in the
// codec of its request. Values are opaque: they are carried as the raw bytes
// of one JSON value or one msgpack object and never re-encoded, except by
// ConvertValue when a value stored in one codec is read in the other. Copies
// between nodes carry values raw instead (Request.ValueCodec, Entry.Codec,
// FeatureRaw): a value stored in the other codec than the message's travels
// as its stored bytes, a byte string, with the codec it was written in.
//
// The package does no I/O and holds no state; every function is safe for
// concurrent use. docs/PROTOCOL.md is the normative specification; this
// package and that document change together.
package protocol

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
// Writes may carry versions (hlc.Version) that order them per key, and
// reads may report them, tombstones included (Request.Version,
// Request.Versions, Reply.Superseded, Entry.Version, FeatureVersions).
//
// The package does no I/O and holds no state; every function is safe for
// concurrent use. docs/PROTOCOL.md is the normative specification; this
// package and that document change together.
//
// # Organisation
//
// One field table drives both codecs and both directions:
//
//   - fields.go: the field table — every field of a request or reply, its
//     wire name (spelled there once), its type, the ops that must carry it,
//     those on which its value is checked and, for a field only some ops
//     take, those ops; and the fields of each op's reply.
//   - validate.go: the checks of a decoded request, run from the table
//     whatever the codec.
//   - request.go: Request, DecodeRequest, and the one mapping between the
//     fields and the members of a Request that both decoders and the
//     encoder use.
//   - request_json.go, request_msgpack.go: decoding a request in JSON, in
//     msgpack.
//   - reply.go: Reply and its parts, DecodeReply.
//   - reply_json.go, reply_msgpack.go: the hand-written decoders of the
//     replies clients read most, in JSON (bulk reads) and msgpack (the
//     request path); reply_std.go: the decoder built on encoding/json and
//     the msgpack library, for everything else and as their oracle.
//   - encode.go: AppendRequest and AppendReply; encode_writer.go: the writer
//     they write with, either codec; encode_json.go, encode_msgpack.go: the
//     JSON and msgpack forms it appends.
//   - batch.go: BatchBuilder, which appends ingest BATCHes without building
//     Requests.
//   - json_syntax.go, msgpack_reader.go: the JSON scanner and the msgpack
//     reader the decoders read with; alias.go: zero-copy conversions.
//   - codec.go, op.go, errors.go, limits.go: codecs, ops, error codes and
//     the limits a decoder enforces.
//   - convert.go: ConvertValue between codecs; digest.go: the hashes DIGEST
//     sums (EntryHash, RawEntryHash, VersionEntryHash).
package protocol

package protocol

import "math/bits"

// The field table: every field of protocol v1, requests and replies, with
// its wire name, its type and the ops it belongs to. Each field name is
// spelled here once; the decoders of both codecs look names up in it
// (fieldNamed), the request checks run from it (validate, through per-op
// field sets) and the encoders write from it (AppendRequest, AppendReply).
// Each codec reads and writes a field's value by a case of its own, into
// or from its Request or Reply member; tests check every field of the
// table has its case and is read as the type the table gives it
// (TestDecodersSetEveryField, TestDecodersFollowKinds,
// TestAppendReplyEveryField).

// field is one field of a request or reply.
type field uint8

// The fields. Those of a request come first, in the order the JSON
// request decoder checks them and AppendRequest writes them.
const (
	fieldOp field = iota
	fieldID
	fieldKey
	fieldValue
	fieldRawValue
	fieldValueCodec
	fieldIfAbsent
	fieldCursor
	fieldLimit
	fieldHashFrom
	fieldHashTo
	fieldPartitions
	fieldBitmap
	fieldRaw
	fieldToken
	fieldTimeoutMS
	fieldVersion
	fieldVersions
	fieldOps
	// Reply fields only (a reply also carries id, key, value, cursor,
	// token and version).
	fieldStatus
	fieldError
	fieldMessage
	fieldCollection
	fieldDeleted
	fieldNode
	fieldProtocol
	fieldFeatures
	fieldStats
	fieldResults
	fieldDigests
	fieldCount
	fieldSuperseded
	numFields
	// noField is what fieldNamed returns for a name the protocol does not
	// know.
	noField field = 0xff
)

// numRequestFields counts the fields a request may carry (fieldOp to
// fieldOps).
const numRequestFields = fieldStatus

// kind is the type of a field's value on the wire.
type kind uint8

const (
	kindOp      kind = iota + 1 // a string naming an Op
	kindString                  // a string
	kindRaw                     // one value of any type, kept as its raw encoding
	kindBinary                  // bytes: a msgpack bin, in JSON a base64 string
	kindBase64                  // bytes as a base64 string, in both codecs
	kindCodec                   // a string naming a Codec
	kindBool                    // true or false
	kindInt                     // an integer
	kindUint64                  // an unsigned 64-bit integer
	kindOps                     // an array of requests (BATCH)
	kindEntries                 // an array of {key, value} (or raw, or deleted) entries, each with its version when known
	kindStrings                 // an array of strings
	kindStats                   // the STATS object
	kindReplies                 // an array of replies (BATCH)
	kindDigests                 // an array of [partition, keys, sum]
	kindVersion                 // a version: a string of 32 hex digits (hlc text form)
)

// opSet is a set of ops.
type opSet uint16

func opsOf(ops ...Op) opSet { return setOf[opSet](ops...) }

func (s opSet) has(op Op) bool { return s&(1<<op) != 0 }

// fieldSet is a set of fields. It has a bit for each field of the table
// (numFields must stay at most 64).
type fieldSet uint64

func fieldSetOf(fs ...field) fieldSet { return setOf[fieldSet](fs...) }

func (s fieldSet) has(f field) bool { return f < numFields && s&(1<<f) != 0 }

// addIf adds f to s when cond holds.
func (s *fieldSet) addIf(f field, cond bool) {
	if cond {
		*s |= 1 << f
	}
}

// pop removes the first field of s, in table order, and returns it.
func (s *fieldSet) pop() field {
	f := field(bits.TrailingZeros64(uint64(*s)))
	*s &^= 1 << f
	return f
}

// setOf returns the set, a bit mask, of the elements es.
func setOf[S ~uint16 | ~uint64, E ~uint8](es ...E) S {
	var s S
	for _, e := range es {
		s |= 1 << e
	}
	return s
}

// allOps is every valid op.
var allOps = opsOf(Ops...)

// fieldSpec is one row of the field table.
type fieldSpec struct {
	name string
	kind kind
	// must: the requests of these ops fail without the field
	// (missing says how).
	must opSet
	// checked: on requests of these ops the field's value is checked
	// against the protocol's limits (validate); other ops ignore it.
	checked opSet
	// only, when not empty, is the set of ops whose requests may carry
	// the field: a request of another op that carries it is refused
	// (validate). Empty: any op may carry it, and the ops that do not use
	// it ignore it.
	only opSet
	// missing is the message of a request of an op in must that lacks the
	// field: %[1]v is the op, %[2]q the field, %[3]q its pair.
	missing string
	// pair is the field that must come with this one, if any.
	pair field
}

// The wire names of the fields, each spelled once.
const (
	nameOp         = "op"
	nameID         = "id"
	nameKey        = "key"
	nameValue      = "value"
	nameRawValue   = "raw_value"
	nameValueCodec = "value_codec"
	nameIfAbsent   = "if_absent"
	nameCursor     = "cursor"
	nameLimit      = "limit"
	nameHashFrom   = "hash_from"
	nameHashTo     = "hash_to"
	namePartitions = "partitions"
	nameBitmap     = "bitmap"
	nameRaw        = "raw"
	nameToken      = "token"
	nameTimeoutMS  = "timeout_ms"
	nameOps        = "ops"
	nameVersion    = "version"
	nameVersions   = "versions"
	nameStatus     = "status"
	nameError      = "error"
	nameMessage    = "message"
	nameCollection = "collection"
	nameDeleted    = "deleted"
	nameNode       = "node"
	nameProtocol   = "protocol"
	nameFeatures   = "features"
	nameStats      = "stats"
	nameResults    = "results"
	nameDigests    = "digests"
	nameCount      = "count"
	nameSuperseded = "superseded"
)

// keyOps are the ops that name one key.
var keyOps = opsOf(OpPut, OpGetOne, OpDelete)

// fields is the field table.
var fields = [numFields]fieldSpec{
	fieldOp:         {name: nameOp, kind: kindOp},
	fieldID:         {name: nameID, kind: kindRaw, checked: allOps},
	fieldKey:        {name: nameKey, kind: kindString, must: keyOps, checked: keyOps, missing: `missing or empty %[2]q`},
	fieldValue:      {name: nameValue, kind: kindRaw, must: opsOf(OpPut), checked: opsOf(OpPut), missing: `%[1]v needs %[2]q`},
	fieldRawValue:   {name: nameRawValue, kind: kindBinary},
	fieldValueCodec: {name: nameValueCodec, kind: kindCodec},
	fieldIfAbsent:   {name: nameIfAbsent, kind: kindBool},
	fieldCursor:     {name: nameCursor, kind: kindString},
	fieldLimit:      {name: nameLimit, kind: kindInt, checked: opsOf(OpScan, OpDeletePartitions)},
	fieldHashFrom:   {name: nameHashFrom, kind: kindUint64},
	fieldHashTo:     {name: nameHashTo, kind: kindUint64, checked: opsOf(OpScan, OpDeletePartitions, OpDigest)},
	// A partition set is checked wherever it appears.
	fieldPartitions: {name: namePartitions, kind: kindInt, must: opsOf(OpDigest, OpDeletePartitions), checked: allOps,
		pair: fieldBitmap, missing: `%[1]v needs %[2]q and %[3]q`},
	fieldBitmap:    {name: nameBitmap, kind: kindBase64},
	fieldRaw:       {name: nameRaw, kind: kindBool},
	fieldToken:     {name: nameToken, kind: kindString, must: opsOf(OpSync), checked: opsOf(OpSync), missing: `%[1]v needs a non-empty string %[2]q`},
	fieldTimeoutMS: {name: nameTimeoutMS, kind: kindInt, checked: opsOf(OpSync)},
	// A write's version; on a BATCH, the base of its items' (OpVersion).
	fieldVersion:  {name: nameVersion, kind: kindVersion, only: opsOf(OpPut, OpDelete, OpBatch)},
	fieldVersions: {name: nameVersions, kind: kindBool, only: opsOf(OpGetOne, OpScan, OpDigest)},
	fieldOps:      {name: nameOps, kind: kindOps, must: opsOf(OpBatch), missing: `%[1]v needs %[2]q`},

	fieldStatus:     {name: nameStatus, kind: kindString},
	fieldError:      {name: nameError, kind: kindString},
	fieldMessage:    {name: nameMessage, kind: kindString},
	fieldCollection: {name: nameCollection, kind: kindEntries},
	fieldDeleted:    {name: nameDeleted, kind: kindBool},
	fieldNode:       {name: nameNode, kind: kindString},
	fieldProtocol:   {name: nameProtocol, kind: kindInt},
	fieldFeatures:   {name: nameFeatures, kind: kindStrings},
	fieldStats:      {name: nameStats, kind: kindStats},
	fieldResults:    {name: nameResults, kind: kindReplies},
	fieldDigests:    {name: nameDigests, kind: kindDigests},
	fieldCount:      {name: nameCount, kind: kindInt},
	fieldSuperseded: {name: nameSuperseded, kind: kindBool},
}

// numFields must fit a fieldSet.
var _ [64 - numFields]struct{}

// String returns the wire name of f.
func (f field) String() string { return fields[f].name }

// checkOrder is the order in which validate checks the fields of a
// request, which decides the error a request with several faults gets:
// the partition set before the limit and hash range that page through it.
var checkOrder = [...]field{fieldID, fieldKey, fieldValue, fieldPartitions, fieldLimit, fieldHashTo, fieldToken, fieldTimeoutMS,
	fieldVersion, fieldVersions, fieldOps}

// replyFields lists, per op, the fields of its OK reply after "status"
// and "id", in the order AppendReply writes them. PING's "features",
// GET_ONE's "version" and the writes' "superseded" are left out when the
// reply has none (Reply.omits).
var replyFields = [numOps][]field{
	OpPut:              {fieldSuperseded},
	OpGetOne:           {fieldKey, fieldValue, fieldVersion},
	OpGetAll:           {fieldCollection},
	OpScan:             {fieldCollection, fieldCursor},
	OpDelete:           {fieldDeleted, fieldSuperseded},
	OpDigest:           {fieldDigests},
	OpDeletePartitions: {fieldCount, fieldCursor},
	OpSync:             {fieldToken},
	OpPing:             {fieldNode, fieldProtocol, fieldFeatures},
	OpStats:            {fieldStats},
	OpBatch:            {fieldResults},
}

// fieldNamed returns the field whose wire name is name, or noField.
func fieldNamed(name []byte) field {
	if f := requestFieldNamed(name); f != noField {
		return f
	}
	return replyFieldNamed(name)
}

// requestFieldNamed returns the request field whose wire name is name, or
// noField. It is a switch on the name constants, which the compiler turns
// into a few comparisons of lengths and bytes: the request decoders call it
// for every field of every message. TestFieldNamed checks it against the
// field table.
func requestFieldNamed(name []byte) field {
	switch string(name) {
	case nameOp:
		return fieldOp
	case nameID:
		return fieldID
	case nameKey:
		return fieldKey
	case nameValue:
		return fieldValue
	case nameRawValue:
		return fieldRawValue
	case nameValueCodec:
		return fieldValueCodec
	case nameIfAbsent:
		return fieldIfAbsent
	case nameCursor:
		return fieldCursor
	case nameLimit:
		return fieldLimit
	case nameHashFrom:
		return fieldHashFrom
	case nameHashTo:
		return fieldHashTo
	case namePartitions:
		return fieldPartitions
	case nameBitmap:
		return fieldBitmap
	case nameRaw:
		return fieldRaw
	case nameToken:
		return fieldToken
	case nameTimeoutMS:
		return fieldTimeoutMS
	case nameVersion:
		return fieldVersion
	case nameVersions:
		return fieldVersions
	case nameOps:
		return fieldOps
	}
	return noField
}

// replyFieldNamed returns the field only replies carry whose wire name is
// name, or noField.
func replyFieldNamed(name []byte) field {
	switch string(name) {
	case nameStatus:
		return fieldStatus
	case nameError:
		return fieldError
	case nameMessage:
		return fieldMessage
	case nameCollection:
		return fieldCollection
	case nameDeleted:
		return fieldDeleted
	case nameNode:
		return fieldNode
	case nameProtocol:
		return fieldProtocol
	case nameFeatures:
		return fieldFeatures
	case nameStats:
		return fieldStats
	case nameResults:
		return fieldResults
	case nameDigests:
		return fieldDigests
	case nameCount:
		return fieldCount
	case nameSuperseded:
		return fieldSuperseded
	}
	return noField
}

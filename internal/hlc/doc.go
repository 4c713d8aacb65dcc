// Package hlc is the hybrid logical clock that orders the writes of a key,
// and the versions it issues.
//
// A Version is 16 bytes: Time, a hybrid logical clock reading (Unix
// milliseconds in the high 48 bits, a logical counter in the low 16), and
// Writer, the id of the producer or node that issued it, which breaks ties.
// Versions order writes of one key totally: the replicas of a key keep the
// value of the highest version they have seen (last writer wins), and a
// delete is a tombstone with its own version.
//
// A Clock issues versions that are strictly increasing for its writer and
// never behind any version it has observed, so a write issued after another
// was seen orders after it whatever the wall clocks say. Observe refuses a
// version too far ahead of the local wall clock, which bounds how far one bad
// clock can pull the others.
//
// On the wire and in logs a version is 32 lowercase hex digits, Time then
// Writer, so comparing two texts as strings compares the versions.
//
// The package is pure: no I/O, nothing but the standard library.
package hlc

// Package durable is the on-disk storage engine of a zshard node: a
// store.Store kept in a Pebble database (github.com/cockroachdb/pebble/v2),
// selected with `server_consumer --data-dir`.
//
// Pebble was chosen over bbolt after measuring both on the node's workload
// (docs/BENCHMARKS.md, "Durable storage"): batches of small PUTs with one
// fsync per batch, point reads and partition scans. Pebble's WAL coalesces
// concurrent syncs (group commit) and appends sequentially, while a bbolt
// commit rewrites and fsyncs B+tree pages and the meta page.
//
// Writes are applied without waiting for the disk; Sync makes everything
// applied before it durable. The node decides when to call Sync (its
// --sync policy), so a reply can promise durability for a whole BATCH with
// one fsync.
//
// Recovery is Pebble's: on Open the WAL is replayed; a record cut short at
// the tail of the last WAL (a crash mid-write) ends the replay and the
// intact prefix is kept. A marker file written by Close tells a clean
// shutdown from a crash, which is logged.
//
// Disk errors: Pebble treats a failed WAL write as fatal and ends the
// process (the supervisor restarts it). To keep a full disk from getting
// there, writes are refused with ErrDiskFull while free space is below
// Options.MinFreeBytes, and reads go on. A directory that cannot be opened
// for writing is opened read-only: reads are served, writes fail with
// ErrReadOnly.
//
// Versions and tombstones: a record written with a version or as a
// tombstone (store.Value) holds a flags byte and the 16-byte version before
// its value; a value written without a version is written, and a record
// of a data directory written before versions existed is read, as before:
// the codec byte and the value. Last-writer-wins (Apply, ApplyMany and so
// PutMany) reads the stored record before each write, the read that keeps
// the key count exact anyway, rather than resolving versions in a Pebble
// merge operator: a merge would spare the read of an overwrite, but lose
// the exact counters and the applied results, slow every read of a key
// until a compaction merges it, and a Pebble database cannot change its
// merge operator, so existing data directories would no longer open
// (docs/BENCHMARKS.md, "Versions and tombstones").
//
// MarkAlive and LastAlive keep a timestamp under a meta key outside the
// key space, so that a node that restarts can tell how long it was away.
package durable

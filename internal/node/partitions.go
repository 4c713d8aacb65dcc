package node

import (
	"cmp"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// MaxDigestPartitions bounds the partitions of the set one DIGEST covers
// (within its hash range), and so the size of its reply.
const MaxDigestPartitions = 65536

// digestPage is the page size in which DIGEST reads the store.
const digestPage = 4096

// partitionSet returns the request's partition set, nil when it has none.
// The decoder checked that Bitmap fits Partitions.
func partitionSet(r *protocol.Request) *sharding.PartitionSet {
	if r.Partitions == 0 {
		return nil
	}
	return &sharding.PartitionSet{N: r.Partitions, Bits: r.Bitmap}
}

// digest answers DIGEST: one digest per partition of the set, within the
// hash range, that holds keys. Values are hashed as a SCAN in codec c
// returns them, or with "raw" as stored, with their codec; with
// "versions", keys and tombstones are hashed with their versions instead
// (protocol.VersionEntryHash).
func (n *Node) digest(c protocol.Codec, r *protocol.Request, rep protocol.Reply) (protocol.Reply, error) {
	set := partitionSet(r)
	hr := sharding.HashRange{From: r.HashFrom, To: r.HashTo}
	if first, last, ok := set.Partitions(hr); ok {
		if k := set.Count(first, last+1); k > MaxDigestPartitions {
			return rep, protocol.Errorf(protocol.CodeTooLarge,
				"DIGEST of %d partitions exceeds the limit of %d; split it with hash_from and hash_to", k, MaxDigestPartitions)
		}
	}
	rep.Digests = []protocol.Digest{}
	var cur store.Cursor
	for {
		var page store.Page
		var err error
		if r.Versions {
			page, err = n.store.ScanRecords(n.ctx, cur, hr, set, digestPage)
		} else {
			page, err = n.store.ScanPartitions(n.ctx, cur, hr, set, digestPage)
		}
		if err != nil {
			return rep, storeErr(err)
		}
		for _, e := range page.Entries {
			var h uint64
			if r.Versions {
				h = protocol.VersionEntryHash(e.Key, e.Value.Version, e.Value.Tombstone)
			} else if h, err = entryHash(e, c, r.Raw); err != nil {
				return rep, err
			}
			p := set.Of(e.Hash)
			if k := len(rep.Digests); k == 0 || rep.Digests[k-1].Partition != p {
				rep.Digests = append(rep.Digests, protocol.Digest{Partition: p})
			}
			d := &rep.Digests[len(rep.Digests)-1]
			d.Keys++
			d.Sum += h
		}
		if page.Done {
			return rep, nil
		}
		cur = page.Next
	}
}

// entryHash is the hash DIGEST sums for e: protocol.EntryHash of the
// value converted to c, or with raw protocol.RawEntryHash of it as stored.
func entryHash(e store.Entry, c protocol.Codec, raw bool) (uint64, error) {
	if raw {
		return protocol.RawEntryHash(e.Key, protocol.Codec(e.Value.Codec), e.Value.Data), nil
	}
	v, err := protocol.ConvertValue(e.Value.Data, protocol.Codec(e.Value.Codec), c)
	if err != nil {
		pe := protocol.AsError(err)
		return 0, protocol.Errorf(pe.Code, "key %q: %s", e.Key, pe.Message)
	}
	return protocol.EntryHash(e.Key, v), nil
}

// deletePartitions answers DELETE_PARTITIONS: it deletes the keys the SCAN
// with the same fields would return, and returns their count and the
// cursor that continues.
func (n *Node) deletePartitions(r *protocol.Request, rep protocol.Reply) (protocol.Reply, error) {
	from, limit, err := pageStart(r)
	if err != nil {
		return rep, err
	}
	deleted, next, done, err := n.store.DeletePartitions(n.ctx, from, sharding.HashRange{From: r.HashFrom, To: r.HashTo}, partitionSet(r), limit)
	rep.Count = deleted
	if err != nil {
		return rep, storeErr(err)
	}
	if !done {
		rep.Cursor = next.String()
	}
	return rep, nil
}

// pageStart reads where the page of a SCAN or DELETE_PARTITIONS request
// starts (its cursor) and how many keys it holds at most.
func pageStart(r *protocol.Request) (store.Cursor, int, error) {
	from, err := store.ParseCursor(r.Cursor)
	if err != nil {
		return from, 0, protocol.Errorf(protocol.CodeBadRequest, "malformed \"cursor\" %q", r.Cursor)
	}
	return from, cmp.Or(r.Limit, protocol.DefaultScanLimit), nil
}

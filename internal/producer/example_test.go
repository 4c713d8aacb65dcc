package producer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
)

// Example shows the three data paths against a running cluster (it needs
// one, so it is compiled but not run).
func Example() {
	ctx := context.Background()
	p, err := producer.New(ctx, producer.Config{
		Consul:   consul.Config{Addr: "127.0.0.1:8500"},
		Settings: layout.Settings{Algorithm: "hrw", Replicas: 2}, // used only if the cluster has none
		Codec:    protocol.Msgpack,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// Acknowledged PUT on the key's R+1 replicas, GET with fallback.
	v, _ := producer.EncodeValue(p.Codec(), "alice")
	if err := p.Put(ctx, "user:1", v); err != nil {
		log.Fatal(err)
	}
	raw, err := p.Get(ctx, "user:1")
	if err != nil {
		log.Fatal(err)
	}
	var name string
	_ = producer.DecodeValue(p.Codec(), raw, &name)
	fmt.Println(name, p.Replicas("user:1"))

	// Bulk load over PUSH, acknowledged by one SYNC barrier per node.
	b, err := p.NewBulk()
	if err != nil {
		log.Fatal(err)
	}
	for i := range 100000 {
		_ = b.Put(ctx, fmt.Sprintf("key:%d", i), v)
	}
	if err := b.Sync(ctx); err != nil {
		log.Fatal(err) // names the nodes that did not confirm
	}
	_ = b.Close()

	// Pipelined reads.
	_ = p.Do(ctx, 100000, func(i int) producer.Op {
		return producer.Op{Kind: producer.OpGet, Key: fmt.Sprintf("key:%d", i)}
	}, func(i int, r producer.Result) {
		if r.Err != nil {
			log.Print(r.Err)
		}
	})
}

// Command client_producer is the zshard producer CLI: it shards operations
// over the nodes registered in Consul and compares placement algorithms.
//
//	go run ./client_producer compare --nodes 10,100 --keys 1000000
//
// Run it with --help for the commands.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// Command server_consumer runs zshard storage nodes.
//
//	server_consumer --static 4      # node-0..node-3 on ports 2000-2003 / 2100-2103
//	server_consumer node --name node-0
//
// Run it with --help for every flag. The wire protocol is docs/PROTOCOL.md.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:]))
}

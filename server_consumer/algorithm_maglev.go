//go:build maglev

package main

// Built with -tags maglev, this command also knows the example Maglev
// placement algorithm (--hash maglev). A placement algorithm of your own
// joins a build the same way: a blank import of its package, which
// registers it with sharding.Register, in every binary of the cluster.
import _ "github.com/zshard/zshard/sharding/examples/maglev"

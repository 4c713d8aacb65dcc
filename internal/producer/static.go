package producer

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/zshard/zshard/consul"
)

// A static cluster (Config.Static) is a fixed list of members the producer
// routes to without Consul: the layout is every member, each passing and
// ready, and the settings are Config.Settings (defaults filled in). Nothing
// is watched, stored or recorded, so membership changes and rebalancing,
// which need Consul, do not apply; every producer of a static cluster must
// be given the same members, algorithm and R.

// StaticMembers returns the members node-0..node-{n-1} of a cluster started
// with `server_consumer --static n`: node-i takes requests on
// tcp://host:(baseRequestPort+i) and ingest on tcp://host:(baseIngestPort+i).
func StaticMembers(n int, host string, baseRequestPort, baseIngestPort int) []consul.Member {
	members := make([]consul.Member, n)
	for i := range members {
		rep, pull := baseRequestPort+i, baseIngestPort+i
		members[i] = consul.Member{
			Name:    "node-" + strconv.Itoa(i),
			RepURL:  "tcp://" + net.JoinHostPort(host, strconv.Itoa(rep)),
			PullURL: "tcp://" + net.JoinHostPort(host, strconv.Itoa(pull)),
			Address: host, Port: rep, Ready: true,
		}
	}
	return members
}

// validateStatic reports what is wrong with a static membership: every
// member needs a unique name and both endpoints.
func validateStatic(members []consul.Member) error {
	var errs []error
	seen := map[string]bool{}
	for i, m := range members {
		switch {
		case m.Name == "":
			errs = append(errs, fmt.Errorf("producer: static member %d has no name", i))
		case seen[m.Name]:
			errs = append(errs, fmt.Errorf("producer: static member %q appears twice", m.Name))
		}
		seen[m.Name] = true
		if m.RepURL == "" || m.PullURL == "" {
			errs = append(errs, fmt.Errorf("producer: static member %q needs a request and an ingest endpoint", m.Name))
		}
	}
	return errors.Join(errs...)
}

// staticMembers returns a copy of members, each ready, sorted by name as
// Consul's are.
func staticMembers(members []consul.Member) []consul.Member {
	out := slices.Clone(members)
	for i := range out {
		out[i].Ready = true
	}
	slices.SortFunc(out, func(a, b consul.Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Static reports whether the producer routes to a static cluster
// (Config.Static) rather than following Consul.
func (p *Producer) Static() bool { return p.cc == nil }

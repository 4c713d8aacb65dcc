package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/layout"
)

// NodeProcess configures one node process: the node itself and, when
// Consul is set, its registration.
type NodeProcess struct {
	Node node.Config
	// Consul registers the node when not nil.
	Consul *consul.Client
	// Host is recorded in the registration's Meta "host".
	Host string
	// Advertise is the address other hosts reach this node at, written into
	// the registered endpoint URLs. Default: the bind address, or, when that
	// is a wildcard (0.0.0.0, ::), this host's first non-loopback address.
	Advertise string
	// TTL of the health check. Default consul.DefaultTTL.
	TTL time.Duration
	// Ready, when not nil, receives one line once the node serves and is
	// registered: READY <name> <request endpoint> <ingest endpoint>.
	Ready io.Writer
	// DataDir is the node's data directory when its store is durable (the
	// store itself is opened by the caller and given in Node.Store). With
	// Consul it turns on the layout check and, with R > 0, the catch-up
	// from the replicas before the node serves reads (catchup.go).
	// Default "": an in-memory node, which starts empty and ready.
	DataDir string
	// CatchUpSettle is how long a catching-up node waits, once it sees
	// itself passing in Consul, before it scans its replicas: writes routed
	// by producers that had not seen it yet land on the replicas meanwhile.
	// Default DefaultCatchUpSettle.
	CatchUpSettle time.Duration
	// Logger receives lifecycle events. Default: discard.
	Logger *slog.Logger
}

// ErrPortTaken means a node could not bind because its port is in use. A
// supervisor does not restart a node that failed this way.
var ErrPortTaken = errors.New("port already in use")

// RunNode runs one node until ctx is done: it starts the node, registers it
// (if configured), heartbeats while the node answers its own PING, and on
// cancellation deregisters first (so clients stop routing to it) and then
// closes the node.
func RunNode(ctx context.Context, p NodeProcess) error {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if p.CatchUpSettle == 0 {
		p.CatchUpSettle = DefaultCatchUpSettle
	}
	n, err := node.New(p.Node)
	if err != nil {
		return err
	}
	// A durable node checks its data against the layout before it binds,
	// and with replicas catches up before it serves reads.
	var cu *node.CatchUp
	var settings layout.Settings
	if p.Consul != nil && p.DataDir != "" {
		s, ok, err := checkLayout(ctx, p, n, log)
		if err != nil {
			_ = n.Close()
			return err
		}
		if ok && s.Replicas > 0 {
			settings = s
			cu = n.BeginCatchUp()
		}
	}
	if err := n.Start(); err != nil {
		_ = n.Close()
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return fmt.Errorf("%w: %s: %v (is another server_consumer running? choose other ports)", ErrPortTaken, p.Node.Name, err)
		}
		return err
	}
	defer n.Close()

	repURL, pullURL := n.RequestEndpoint(), n.IngestEndpoint()
	var reg *consul.Registrar
	if p.Consul != nil {
		// Bound endpoints, rewritten to the address other hosts reach. With
		// a wildcard bind and no --advertise that address is looked up again
		// before every heartbeat: a container can be given a new one.
		boundRep, boundPull := repURL, pullURL
		endpoints := func() (string, string, error) {
			adv, err := advertiseAddr(p.Advertise, p.Node.Bind)
			if err != nil {
				return "", "", err
			}
			return withHost(boundRep, adv), withHost(boundPull, adv), nil
		}
		if repURL, pullURL, err = endpoints(); err != nil {
			return err
		}
		r := consul.Registration{Name: n.Name(), RepURL: repURL, PullURL: pullURL, Host: p.Host, TTL: p.TTL, CatchingUp: cu != nil}
		if p.Advertise == "" && isWildcard(p.Node.Bind) {
			r.Refresh = endpoints
		}
		if reg, err = p.Consul.Register(ctx, r); err != nil {
			return err
		}
		log.Info("registered in consul", "node", n.Name(), "rep", repURL, "pull", pullURL)
	}
	if p.Ready != nil {
		fmt.Fprintf(p.Ready, "READY %s %s %s\n", n.Name(), repURL, pullURL)
	}
	if reg == nil {
		<-ctx.Done()
		return nil
	}

	// The heartbeat proves the request endpoint answers, not merely that the
	// process lives: a wedged request loop turns the check critical.
	ping := reqclient.New(withHost(n.RequestEndpoint(), loopbackFor(p.Node.Bind)), time.Second)
	beatCtx, stopBeat := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ping.Close()
		reg.Run(beatCtx, func() error {
			_, err := ping.Call(beatCtx, &protocol.Request{Op: protocol.OpPing})
			return err
		})
	}()
	if cu != nil {
		if err := catchUp(ctx, p, n, cu, settings, log); err == nil {
			cu.Finish()
			for ctx.Err() == nil {
				if err := reg.SetReady(ctx); err == nil {
					log.Info("ready for reads", "node", n.Name())
					break
				} else {
					log.Warn("cannot register as ready; retrying", "node", n.Name(), "err", err)
				}
				_ = sleepCtx(ctx, time.Second)
			}
		} else if ctx.Err() == nil {
			log.Error("catch-up failed; the node takes writes but stays unready for reads", "node", n.Name(), "err", err)
		}
	}
	<-ctx.Done()
	stopBeat()
	<-done

	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := reg.Deregister(dctx); err != nil {
		log.Warn("deregistration failed; the agent removes the node after its check expires", "node", n.Name(), "err", err)
		return nil
	}
	log.Info("deregistered from consul", "node", n.Name())
	return nil
}

// advertiseAddr picks the address written into the registration.
func advertiseAddr(advertise, bind string) (string, error) {
	if advertise != "" {
		return advertise, nil
	}
	if !isWildcard(bind) {
		return bind, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("finding an address to advertise: %w (set --advertise)", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", errors.New("no non-loopback IPv4 address to advertise; set --advertise")
}

// isWildcard reports whether bind listens on every interface.
func isWildcard(bind string) bool {
	ip := net.ParseIP(bind)
	return ip != nil && ip.IsUnspecified()
}

// loopbackFor returns the address the node's own pinger connects to.
func loopbackFor(bind string) string {
	if isWildcard(bind) {
		return "127.0.0.1"
	}
	return bind
}

// withHost replaces the host of a tcp://host:port endpoint.
func withHost(endpoint, host string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	_, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return endpoint
	}
	u.Host = net.JoinHostPort(host, port)
	return u.String()
}

// hostname returns this host's name for claims and Meta "host".
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

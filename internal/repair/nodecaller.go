package repair

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
)

// DefaultCallTimeout bounds one request of a NodeCaller.
const DefaultCallTimeout = 10 * time.Second

// maxIdle is how many idle connections a NodeCaller keeps per node.
const maxIdle = 4

// NodeCaller is a Caller that reaches the nodes by name at the request
// endpoints they register in Consul (Member.RepURL), over reqclient REQ
// sockets in JSON: what a node uses to repair with its peers, without a
// producer. It learns the endpoints from SetMembers or, for a name it
// does not know, from Consul's passing members.
//
// It is safe for concurrent use: each call takes a connection of its own
// (kept for the next call to the same node, a few per node).
type NodeCaller struct {
	cc      *consul.Client
	timeout time.Duration

	curve *curve.Client // nil: plaintext

	mu     sync.Mutex
	eps    map[string]string // node -> request endpoint
	keys   map[string]string // node -> CURVE public key (Meta "curve")
	idle   map[string][]*reqclient.Client
	closed bool
}

// NewNodeCaller returns a NodeCaller that looks nodes up in cc (nil: only
// those given to SetMembers) and waits at most timeout for a send and for
// a reply (0: DefaultCallTimeout).
func NewNodeCaller(cc *consul.Client, timeout time.Duration) *NodeCaller {
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return &NodeCaller{cc: cc, timeout: timeout, eps: map[string]string{}, keys: map[string]string{},
		idle: map[string][]*reqclient.Client{}}
}

// Secure makes the caller connect with CURVE as cc (nil: plaintext),
// expecting each node's published key; it returns c. Call it before the
// first Call.
func (c *NodeCaller) Secure(cc *curve.Client) *NodeCaller {
	c.curve = cc
	return c
}

// Codec is JSON: reqclient encodes requests in JSON.
func (c *NodeCaller) Codec() protocol.Codec { return protocol.JSON }

// SetMembers makes ms the nodes the caller reaches; connections to nodes
// gone or moved are closed.
func (c *NodeCaller) SetMembers(ms []consul.Member) {
	eps := make(map[string]string, len(ms))
	keys := make(map[string]string, len(ms))
	for _, m := range ms {
		if m.RepURL != "" {
			eps[m.Name] = m.RepURL
			keys[m.Name] = m.Curve
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, idle := range c.idle {
		if eps[n] != c.eps[n] || keys[n] != c.keys[n] {
			for _, rc := range idle {
				rc.Close()
			}
			delete(c.idle, n)
		}
	}
	c.eps, c.keys = eps, keys
}

// Refresh reads the passing members from Consul (SetMembers).
func (c *NodeCaller) Refresh(ctx context.Context) error {
	if c.cc == nil {
		return nil
	}
	ms, err := c.cc.Members(ctx)
	if err != nil {
		return err
	}
	c.SetMembers(ms)
	return nil
}

// Call sends req to node's request endpoint and returns its reply; an
// error reply is returned with an error.
func (c *NodeCaller) Call(ctx context.Context, node string, req protocol.Request) (protocol.Reply, error) {
	rc, ep, err := c.take(ctx, node)
	if err != nil {
		return protocol.Reply{}, err
	}
	rep, err := rc.Call(ctx, &req)
	c.give(node, ep, rc)
	return rep, err
}

// take returns an idle connection to node, or a new one.
func (c *NodeCaller) take(ctx context.Context, node string) (*reqclient.Client, string, error) {
	c.mu.Lock()
	ep, ok := c.eps[node]
	c.mu.Unlock()
	if !ok {
		if err := c.Refresh(ctx); err != nil {
			return nil, "", err
		}
		c.mu.Lock()
		ep, ok = c.eps[node]
		c.mu.Unlock()
		if !ok {
			return nil, "", fmt.Errorf("repair: %s is not a passing member", node)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, "", fmt.Errorf("repair: node caller closed")
	}
	if idle := c.idle[node]; len(idle) > 0 {
		rc := idle[len(idle)-1]
		c.idle[node] = idle[:len(idle)-1]
		return rc, ep, nil
	}
	rc := reqclient.New(ep, c.timeout)
	if c.curve != nil {
		key, err := c.curve.ServerKeyFor(node, c.keys[node])
		if err != nil {
			return nil, "", err
		}
		rc.Secure(c.curve, node, key)
	}
	return rc, ep, nil
}

// give keeps rc for the next call to node, unless the caller is closed,
// node moved meanwhile, or enough are kept already.
func (c *NodeCaller) give(node, ep string, rc *reqclient.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.eps[node] != ep || len(c.idle[node]) >= maxIdle {
		rc.Close()
		return
	}
	c.idle[node] = append(c.idle[node], rc)
}

// Close closes the idle connections; those in use are closed when their
// call ends. Later calls fail. It is safe to call more than once.
func (c *NodeCaller) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for n, idle := range c.idle {
		for _, rc := range idle {
			rc.Close()
		}
		delete(c.idle, n)
	}
}

package reqclient

import (
	"cmp"
	"context"
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
)

// Client sends requests to one endpoint over a REQ socket, one at a time,
// encoded in JSON. The socket is connected on the first call and replaced
// after a failure to send or to receive. The zero value is not usable; call
// New.
type Client struct {
	endpoint string
	timeout  time.Duration
	sock     *zmq.Socket
	sockTime time.Duration // the send and receive timeouts sock is set to

	curve     *curve.Client // nil: plaintext
	serverKey string        // the node's CURVE public key
	node      string        // the node's name, for errors
}

// New returns a client of endpoint (tcp://host:port) whose calls wait at
// most timeout to send and, again, to receive. It connects lazily.
func New(endpoint string, timeout time.Duration) *Client {
	return &Client{endpoint: endpoint, timeout: timeout}
}

// Secure makes c connect with CURVE as cc (nil: plaintext) to the node
// named node, whose CURVE public key is serverKey; it returns c. Call it
// before the first Call. A node that refuses the key fails the Call with
// an error naming the node and wrapping curve.ErrNotAuthorized.
func (c *Client) Secure(cc *curve.Client, node, serverKey string) *Client {
	c.curve, c.node, c.serverKey = cc, node, serverKey
	return c
}

// Endpoint returns the endpoint the client sends to.
func (c *Client) Endpoint() string { return c.endpoint }

// Call sends req and returns the node's reply. The wait for each of the
// send and the reply is the client's timeout, or less when ctx's deadline
// is nearer; a ctx already done fails the call before it sends. A reply
// whose status is not OK is returned with an error (the reply's own error
// wrapped when it carries one).
func (c *Client) Call(ctx context.Context, req *protocol.Request) (protocol.Reply, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Reply{}, err
	}
	msg, err := protocol.AppendRequest(nil, protocol.JSON, req)
	if err != nil {
		return protocol.Reply{}, err
	}
	wait := c.timeout
	if d, ok := ctx.Deadline(); ok {
		wait = max(min(wait, time.Until(d)), time.Millisecond)
	}
	if err := c.connect(wait); err != nil {
		return protocol.Reply{}, err
	}
	if _, err := c.sock.SendBytes(msg, 0); err != nil {
		c.Close()
		return protocol.Reply{}, fmt.Errorf("%v to %s: %w", req.Op, c.endpoint, err)
	}
	b, err := c.sock.RecvBytes(0)
	if err != nil {
		c.Close()
		return protocol.Reply{}, fmt.Errorf("%v to %s: no reply within %v: %w", req.Op, c.endpoint, wait, err)
	}
	rep, _, err := protocol.DecodeReply(b)
	if err != nil {
		return protocol.Reply{}, fmt.Errorf("%v to %s: %w", req.Op, c.endpoint, err)
	}
	if rep.Status != protocol.StatusOK {
		if rep.Err != nil {
			return rep, fmt.Errorf("%v to %s: %w", req.Op, c.endpoint, rep.Err)
		}
		return rep, fmt.Errorf("%v to %s: status %q", req.Op, c.endpoint, rep.Status)
	}
	return rep, nil
}

// connect makes sure the client has a connected socket whose send and
// receive timeouts are wait.
func (c *Client) connect(wait time.Duration) error {
	if c.sock == nil {
		s, err := zmq.NewSocket(zmq.REQ)
		if err != nil {
			return err
		}
		_ = s.SetLinger(0)
		if err := c.dial(s); err != nil {
			s.Close()
			return err
		}
		c.sock, c.sockTime = s, 0
	}
	if c.sockTime != wait {
		_ = c.sock.SetRcvtimeo(wait)
		_ = c.sock.SetSndtimeo(wait)
		c.sockTime = wait
	}
	return nil
}

// dial connects s to the endpoint, with CURVE when the client is secure.
func (c *Client) dial(s *zmq.Socket) error {
	if c.curve == nil {
		return s.Connect(c.endpoint)
	}
	if err := c.curve.Apply(s, c.serverKey); err != nil {
		return err
	}
	return c.curve.Connect(s, cmp.Or(c.node, c.endpoint), c.endpoint)
}

// Close closes the socket; the next call connects a new one. It is safe to
// call more than once.
func (c *Client) Close() {
	if c.sock != nil {
		c.sock.Close()
		c.sock = nil
	}
}

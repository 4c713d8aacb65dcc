package curve

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// DefaultHandshakeWait is Client.HandshakeWait's default.
const DefaultHandshakeWait = 2 * time.Second

// Client is the CURVE identity a client connects to nodes with. A nil
// *Client means plaintext.
type Client struct {
	// Key is the client's keypair; the node must have its public key in
	// its allowlist.
	Key Keypair
	// ServerKey, when set, is the nodes' public key, used for every node;
	// default "": each node's own, as it publishes it (Consul Meta "curve").
	ServerKey string
	// HandshakeWait bounds how long Connect waits to learn whether the node
	// admits the key. Default DefaultHandshakeWait.
	HandshakeWait time.Duration
}

// LoadClient returns the Client of the secret key file secretFile and,
// when serverKeyFile is not "", the server key in that file.
func LoadClient(secretFile, serverKeyFile string) (*Client, error) {
	kp, err := LoadSecretFile(secretFile)
	if err != nil {
		return nil, err
	}
	c := &Client{Key: kp}
	if serverKeyFile != "" {
		if c.ServerKey, err = ReadKeyFile(serverKeyFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ServerKeyFor returns the public key to expect from node, which publishes
// published (empty when it runs without CURVE).
func (c *Client) ServerKeyFor(node, published string) (string, error) {
	if c.ServerKey != "" {
		return c.ServerKey, nil
	}
	if published == "" {
		return "", fmt.Errorf("node %s publishes no CURVE key (Consul Meta \"curve\"): it runs without CURVE, or give the server key by file", node)
	}
	return ParseKey(published)
}

// Apply makes s, not yet connected, a CURVE client of a server with the
// public key serverKey.
func (c *Client) Apply(s *zmq.Socket, serverKey string) error {
	if err := s.ClientAuthCurve(serverKey, c.Key.Public, c.Key.Secret); err != nil {
		return fmt.Errorf("curve: client options: %w", err)
	}
	return nil
}

var monitorSeq atomic.Uint64

// Connect connects s, a CURVE client (Apply), to the endpoint ep of node
// and waits for the outcome of the first handshake, at most HandshakeWait:
// a node that refuses the key is an error wrapping ErrNotAuthorized and
// naming the node; a handshake that fails otherwise (the node runs
// without CURVE, or has another key) is an error too. A node that cannot be
// reached within the wait is not an error: the connection keeps trying, as
// a plaintext one would.
func (c *Client) Connect(s *zmq.Socket, node, ep string) error {
	zctx, err := s.Context()
	if err != nil {
		return fmt.Errorf("curve: %w", err)
	}
	addr := fmt.Sprintf("inproc://zshard-curve-client-%d", monitorSeq.Add(1))
	const events = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH |
		zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
	if err := s.Monitor(addr, events); err != nil {
		return fmt.Errorf("curve: monitor: %w", err)
	}
	m, err := zctx.NewSocket(zmq.PAIR)
	if err != nil {
		_ = s.Monitor("", 0)
		return fmt.Errorf("curve: monitor socket: %w", err)
	}
	defer func() {
		_ = s.Monitor("", 0) // stop the monitor, then close its peer
		_ = m.SetLinger(0)
		_ = m.Close()
	}()
	if err := m.Connect(addr); err != nil {
		return fmt.Errorf("curve: monitor: %w", err)
	}
	if err := s.Connect(ep); err != nil {
		return fmt.Errorf("connect %s: %w", ep, err)
	}
	wait := c.HandshakeWait
	if wait <= 0 {
		wait = DefaultHandshakeWait
	}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		if err := m.SetRcvtimeo(left); err != nil {
			return fmt.Errorf("curve: monitor: %w", err)
		}
		ev, _, value, err := m.RecvEvent(0)
		switch {
		case err != nil && (isErrno(err, syscall.EINTR)):
			continue
		case err != nil:
			return nil // no verdict in time: unreachable, or slow
		case ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
			return nil
		case ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
			return &RefusedError{Node: node, Endpoint: ep, Err: ErrNotAuthorized}
		default:
			return &RefusedError{Node: node, Endpoint: ep,
				Err: fmt.Errorf("CURVE handshake failed (%v, code %d): the node runs without CURVE or with another key", ev, value)}
		}
	}
}

// RefusedError is a node refusing a client's CURVE connection.
type RefusedError struct {
	Node     string
	Endpoint string
	Err      error // ErrNotAuthorized, or why the handshake failed
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("node %s (%s): %v", e.Node, e.Endpoint, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// IsRefused reports whether err is a node refusing a CURVE connection.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

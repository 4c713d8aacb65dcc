package curve

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// ZAPEndpoint is where libzmq asks a context's ZAP handler (RFC 27).
const ZAPEndpoint = "inproc://zeromq.zap.01"

// Domain is the ZAP domain of zshard's CURVE servers.
const Domain = "zshard"

// Server makes sockets of one ZeroMQ context CURVE servers that admit the
// keys of an Allowlist: it answers the context's ZAP requests and watches
// the sockets for failed handshakes (plaintext clients, wrong server key),
// counting every refusal. Create it with NewServer, secure sockets with
// Secure before they bind, then run Serve on one goroutine, which owns
// the Server's sockets from then on.
type Server struct {
	key   Keypair
	allow *Allowlist
	zap   *zmq.Socket
	mons  []*zmq.Socket // PAIR ends of the socket monitors
	names []string      // the endpoint name of each monitor
	zctx  *zmq.Context

	refused atomic.Uint64
	log     *RateLog
	every   time.Duration
}

// NewServer binds the ZAP handler of zctx. key is the servers' keypair;
// allow decides which clients are admitted.
func NewServer(zctx *zmq.Context, key Keypair, allow *Allowlist, log *slog.Logger) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	zap, err := zctx.NewSocket(zmq.REP)
	if err != nil {
		return nil, fmt.Errorf("curve: ZAP socket: %w", err)
	}
	if err := errors.Join(zap.SetLinger(0), zap.Bind(ZAPEndpoint)); err != nil {
		_ = zap.Close()
		return nil, fmt.Errorf("curve: bind %s: %w", ZAPEndpoint, err)
	}
	return &Server{key: key, allow: allow, zap: zap, zctx: zctx, log: &RateLog{Log: log}, every: time.Second}, nil
}

// Secure makes s, not yet bound, a CURVE server with the Server's key, and
// watches its handshakes; name (e.g. "request") names it in logs.
func (sv *Server) Secure(s *zmq.Socket, name string) error {
	err := errors.Join(s.SetZapDomain(Domain), s.SetCurveServer(1), s.SetCurveSecretkey(sv.key.Secret))
	if err != nil {
		return fmt.Errorf("curve: %s endpoint: %w", name, err)
	}
	addr := fmt.Sprintf("inproc://zshard-curve-monitor-%p", s)
	const events = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
	if err := s.Monitor(addr, events); err != nil {
		return fmt.Errorf("curve: monitor %s endpoint: %w", name, err)
	}
	m, err := sv.zctx.NewSocket(zmq.PAIR)
	if err != nil {
		return fmt.Errorf("curve: monitor socket: %w", err)
	}
	if err := errors.Join(m.SetLinger(0), m.Connect(addr)); err != nil {
		_ = m.Close()
		return fmt.Errorf("curve: monitor %s endpoint: %w", name, err)
	}
	sv.mons = append(sv.mons, m)
	sv.names = append(sv.names, name)
	return nil
}

// Refused returns how many connections were refused: clients whose key is
// not allowed, and handshakes that failed (plaintext clients, clients with
// a wrong server key).
func (sv *Server) Refused() uint64 { return sv.refused.Load() }

// CountRefused counts one more refusal (a message whose sender's key is no
// longer allowed).
func (sv *Server) CountRefused() { sv.refused.Add(1) }

// Allowlist returns the allowlist the server admits.
func (sv *Server) Allowlist() *Allowlist { return sv.allow }

// PublicKey returns the servers' public key.
func (sv *Server) PublicKey() string { return sv.key.Public }

// Serve answers ZAP requests and counts failed handshakes until stop
// reports true (checked every poll), re-reading the allowlist when its
// directories changed (at most once a second); then it closes the Server's
// sockets. Call it once, on the goroutine that owns the Server from then
// on; without Serve, call Close.
func (sv *Server) Serve(stop func() bool, poll time.Duration) {
	defer sv.Close()
	poller := zmq.NewPoller()
	poller.Add(sv.zap, zmq.POLLIN)
	for _, m := range sv.mons {
		poller.Add(m, zmq.POLLIN)
	}
	next := time.Now().Add(sv.every)
	for !stop() {
		polled, err := poller.Poll(poll)
		if err != nil && !isErrno(err, syscall.EINTR) {
			sv.log.Log.Error("CURVE handler poll failed", "err", err)
			time.Sleep(poll)
		}
		for _, p := range polled {
			if p.Socket == sv.zap {
				sv.answer()
				continue
			}
			for i, m := range sv.mons {
				if p.Socket == m {
					sv.onEvent(m, sv.names[i])
				}
			}
		}
		if now := time.Now(); now.After(next) {
			sv.allow.Refresh()
			next = now.Add(sv.every)
		}
	}
}

// Close closes the Server's sockets; Serve does it when it returns. It is
// safe to call more than once.
func (sv *Server) Close() {
	for _, s := range append(sv.mons, sv.zap) {
		if s != nil {
			_ = s.SetLinger(0)
			_ = s.Close()
		}
	}
	sv.mons, sv.zap = nil, nil
}

// answer replies to one ZAP request (RFC 27): 200 with the client's public
// key as user id when the allowlist admits it, else 400.
func (sv *Server) answer() {
	req, err := sv.zap.RecvMessageBytes(zmq.DONTWAIT)
	if err != nil {
		return
	}
	// version, request id, domain, address, identity, mechanism, credentials
	if len(req) < 6 {
		sv.log.Log.Warn("malformed ZAP request", "frames", len(req))
		// REP must answer before it can receive again.
		_, _ = sv.zap.SendMessage("1.0", "", "500", "malformed request", "", "")
		return
	}
	id, addr, mech := req[1], string(req[3]), string(req[5])
	status, text, user := "400", "not allowed", ""
	switch {
	case mech != "CURVE" || len(req) < 7 || len(req[6]) != 32:
		sv.refused.Add(1)
		sv.log.Warn("client refused: not CURVE", "mechanism", mech, "peer", addr)
	default:
		key := zmq.Z85encode(string(req[6]))
		if sv.allow.Role(key) == RoleNone {
			sv.refused.Add(1)
			sv.log.Warn("CURVE client refused: key not in the allowlist", "key", key, "peer", addr)
			break
		}
		status, text, user = "200", "OK", key
	}
	if _, err := sv.zap.SendMessage("1.0", id, status, text, user, ""); err != nil {
		sv.log.Log.Warn("ZAP reply failed", "err", err)
	}
}

// onEvent counts a failed handshake reported by a socket monitor.
func (sv *Server) onEvent(m *zmq.Socket, name string) {
	ev, addr, value, err := m.RecvEvent(zmq.DONTWAIT)
	if err != nil {
		return
	}
	switch ev {
	case zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
		sv.refused.Add(1)
		sv.log.Warn("client refused: CURVE handshake failed (a plaintext client, or a wrong server key)",
			"endpoint", name, "addr", addr, "event", ev.String(), "code", value)
	}
}

func isErrno(err error, e syscall.Errno) bool { return zmq.AsErrno(err) == zmq.Errno(e) }

// ServerConfig is a node's CURVE configuration.
type ServerConfig struct {
	// Key is the node's keypair; clients expect its public key.
	Key Keypair
	// ClientsDir holds the public keys (*.pub) of the clients allowed the
	// ordinary operations. Required.
	ClientsDir string
	// AdminsDir holds the public keys of the clients allowed every
	// operation, maintenance too. Default "": only the node's own key.
	AdminsDir string
}

// Allowlist returns the allowlist of c: its directories, and the node's own
// key as an admin.
func (c *ServerConfig) Allowlist(log *slog.Logger) (*Allowlist, error) {
	if c.Key.Secret == "" || c.Key.Public == "" {
		return nil, errors.New("curve: the server keypair is missing")
	}
	if c.ClientsDir == "" {
		return nil, errors.New("curve: a clients directory is required")
	}
	return NewAllowlist(c.ClientsDir, c.AdminsDir, []string{c.Key.Public}, log)
}

package curve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"
)

func needCurve(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

func TestWriteKeypairAndLoad(t *testing.T) {
	needCurve(t)
	dir := t.TempDir()
	kp, err := Generate()
	require.NoError(t, err)
	pub, sec, err := WriteKeypair(filepath.Join(dir, "alice"), kp)
	require.NoError(t, err)
	fi, err := os.Stat(sec)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(pub)
	require.NoError(t, err)
	require.Equal(t, kp.Public+"\n", string(b))
	require.Len(t, strings.TrimSpace(string(b)), KeyLen)

	got, err := LoadSecretFile(sec)
	require.NoError(t, err)
	require.Equal(t, kp, got)

	_, _, err = WriteKeypair(filepath.Join(dir, "alice"), kp)
	require.ErrorContains(t, err, "exists")

	require.NoError(t, os.Chmod(sec, 0o644))
	_, err = LoadSecretFile(sec)
	require.ErrorContains(t, err, "chmod 600")
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", true},
		{" rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", true},
		{"short", false},
		{strings.Repeat("~", 40), false}, // not Z85
		{"", false},
	} {
		_, err := ParseKey(tc.in)
		require.Equal(t, tc.ok, err == nil, "%q: %v", tc.in, err)
		if !tc.ok {
			require.ErrorIs(t, err, ErrBadKey)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err == nil && len(k) != KeyLen {
			t.Fatalf("accepted %q of %d characters", k, len(k))
		}
	})
}

func writeKey(t *testing.T, dir, name string) Keypair {
	t.Helper()
	kp, err := Generate()
	require.NoError(t, err)
	if dir != "" {
		_, _, err = WriteKeypair(filepath.Join(dir, name), kp)
		require.NoError(t, err)
	}
	return kp
}

func TestAllowlistRolesAndRefresh(t *testing.T) {
	needCurve(t)
	clients, admins := t.TempDir(), t.TempDir()
	c := writeKey(t, clients, "c")
	a := writeKey(t, admins, "a")
	self := writeKey(t, "", "")
	require.NoError(t, os.WriteFile(filepath.Join(clients, "junk.pub"), []byte("nope"), 0o644))
	al, err := NewAllowlist(clients, admins, []string{self.Public}, nil)
	require.NoError(t, err)
	require.Equal(t, RoleClient, al.Role(c.Public))
	require.Equal(t, RoleAdmin, al.Role(a.Public))
	require.Equal(t, RoleAdmin, al.Role(self.Public))
	require.Equal(t, RoleNone, al.Role(""))
	require.False(t, al.Refresh(), "nothing changed")

	d := writeKey(t, clients, "d")
	require.Equal(t, RoleNone, al.Role(d.Public))
	require.True(t, al.Refresh())
	require.Equal(t, RoleClient, al.Role(d.Public))
	require.NoError(t, os.Remove(filepath.Join(clients, "c.pub")))
	require.True(t, al.Refresh())
	require.Equal(t, RoleNone, al.Role(c.Public))

	_, err = NewAllowlist(filepath.Join(clients, "missing"), "", nil, nil)
	require.Error(t, err)
}

// server starts a REP echo server with a CURVE Server on a context of its
// own and returns its endpoint and the Server.
func server(t *testing.T, key Keypair, al *Allowlist) (string, *Server) {
	t.Helper()
	zctx, err := zmq.NewContext()
	require.NoError(t, err)
	sv, err := NewServer(zctx, key, al, nil)
	require.NoError(t, err)
	rep, err := zctx.NewSocket(zmq.REP)
	require.NoError(t, err)
	require.NoError(t, sv.Secure(rep, "request"))
	require.NoError(t, rep.Bind("tcp://127.0.0.1:*"))
	ep, err := rep.GetLastEndpoint()
	require.NoError(t, err)
	require.NoError(t, rep.SetRcvtimeo(50*time.Millisecond))
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	go func() {
		defer func() { done <- struct{}{} }()
		sv.Serve(stopped, 20*time.Millisecond)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		defer func() { _ = rep.SetLinger(0); _ = rep.Close() }()
		for !stopped() {
			msg, meta, err := rep.RecvBytesWithMetadata(0, "User-Id")
			if err != nil {
				continue
			}
			_, _ = rep.SendBytes(append(msg, []byte(" from "+meta["User-Id"])...), 0)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		<-done
		_ = zctx.Term()
	})
	return ep, sv
}

func TestServerAdmitsAllowedKeysOnly(t *testing.T) {
	needCurve(t)
	clients := t.TempDir()
	srv := writeKey(t, "", "")
	ok := writeKey(t, clients, "ok")
	bad := writeKey(t, "", "")
	al, err := NewAllowlist(clients, "", nil, nil)
	require.NoError(t, err)
	ep, sv := server(t, srv, al)

	call := func(c *Client) (string, error) {
		s, err := zmq.NewSocket(zmq.REQ)
		require.NoError(t, err)
		defer s.Close()
		require.NoError(t, s.SetLinger(0))
		require.NoError(t, s.SetRcvtimeo(time.Second))
		if c != nil {
			require.NoError(t, c.Apply(s, srv.Public))
			if err := c.Connect(s, "n1", ep); err != nil {
				return "", err
			}
		} else {
			require.NoError(t, s.Connect(ep))
		}
		if _, err := s.Send("hi", 0); err != nil {
			return "", err
		}
		return s.Recv(0)
	}

	got, err := call(&Client{Key: ok})
	require.NoError(t, err)
	require.Equal(t, "hi from "+ok.Public, got)

	_, err = call(&Client{Key: bad, HandshakeWait: 10 * time.Second})
	require.ErrorIs(t, err, ErrNotAuthorized)
	require.ErrorContains(t, err, "node n1")
	require.True(t, IsRefused(err))

	_, err = call(nil)
	require.Error(t, err, "a plaintext client gets no reply")

	require.Eventually(t, func() bool { return sv.Refused() >= 2 }, 10*time.Second, 20*time.Millisecond,
		"refused %d", sv.Refused())
}

func TestConnectNamesWrongServerKey(t *testing.T) {
	needCurve(t)
	clients := t.TempDir()
	srv := writeKey(t, "", "")
	ok := writeKey(t, clients, "ok")
	al, err := NewAllowlist(clients, "", nil, nil)
	require.NoError(t, err)
	ep, _ := server(t, srv, al)
	other := writeKey(t, "", "")
	s, err := zmq.NewSocket(zmq.REQ)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetLinger(0))
	c := &Client{Key: ok, HandshakeWait: 500 * time.Millisecond}
	require.NoError(t, c.Apply(s, other.Public))
	err = c.Connect(s, "n1", ep)
	// libzmq reports a wrong server key as a failed handshake or not at
	// all (the server just closes); either way the call must return.
	if err != nil {
		require.False(t, errors.Is(err, ErrNotAuthorized), "%v", err)
	}
}

package reqclient_test

import (
	"context"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
)

// busyServer answers the first busy requests it receives with a busy error
// and the next with an empty SCAN page, then stops.
func busyServer(t *testing.T, busy int) string {
	t.Helper()
	rep, err := zmq.NewSocket(zmq.REP)
	require.NoError(t, err)
	require.NoError(t, rep.SetRcvtimeo(safety))
	require.NoError(t, rep.Bind("tcp://127.0.0.1:*"))
	ep, err := rep.GetLastEndpoint()
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer rep.Close()
		for i := 0; i <= busy; i++ {
			if _, err := rep.RecvBytes(0); err != nil {
				return
			}
			msg := `{"status":"OK","collection":[],"cursor":""}`
			if i < busy {
				msg = `{"status":"error","error":"busy","message":"retry"}`
			}
			if _, err := rep.SendBytes([]byte(msg), 0); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return ep
}

// TestCallRetriesBusyScan: a SCAN answered busy is sent again after a
// pause until it is served; past protocol.BusyRetries busy replies the
// error is returned.
func TestCallRetriesBusyScan(t *testing.T) {
	c := reqclient.New(busyServer(t, 2), safety)
	defer c.Close()
	rep, err := c.Call(context.Background(), &protocol.Request{Op: protocol.OpScan})
	require.NoError(t, err)
	require.Equal(t, protocol.StatusOK, rep.Status)

	c2 := reqclient.New(busyServer(t, protocol.BusyRetries+1), safety)
	defer c2.Close()
	_, err = c2.Call(context.Background(), &protocol.Request{Op: protocol.OpScan})
	require.True(t, protocol.IsBusy(err), "%v", err)
	// The server's last request: the client gave up after BusyRetries.
	_, err = c2.Call(context.Background(), &protocol.Request{Op: protocol.OpScan})
	require.NoError(t, err)
}

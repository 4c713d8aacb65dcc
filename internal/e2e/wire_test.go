//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// request sends one JSON request of the class-lab protocol to a node's
// request endpoint over a fresh REQ socket and returns the decoded reply.
// A node that does not answer within timeout is an error; the socket is
// closed without lingering either way, so a lost reply cannot wedge the test.
func request(endpoint string, req map[string]any, timeout time.Duration) (map[string]any, error) {
	msg, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	s, err := zmq.NewSocket(zmq.REQ)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.SetLinger(0); err != nil {
		return nil, err
	}
	if err := s.SetSndtimeo(timeout); err != nil {
		return nil, err
	}
	if err := s.SetRcvtimeo(timeout); err != nil {
		return nil, err
	}
	if err := s.Connect(endpoint); err != nil {
		return nil, fmt.Errorf("connect %s: %w", endpoint, err)
	}
	if _, err := s.SendBytes(msg, 0); err != nil {
		return nil, fmt.Errorf("send to %s: %w", endpoint, err)
	}
	raw, err := s.RecvBytes(0)
	if err != nil {
		if zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) { // the receive timeout
			return nil, fmt.Errorf("no reply from %s within %s", endpoint, timeout)
		}
		return nil, fmt.Errorf("receive from %s: %w", endpoint, err)
	}
	var rep map[string]any
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("reply from %s is not JSON: %w: %q", endpoint, err, raw)
	}
	return rep, nil
}

// put stores key=value on the node at endpoint.
func put(endpoint, key, value string, timeout time.Duration) error {
	rep, err := request(endpoint, map[string]any{"op": "PUT", "key": key, "value": value}, timeout)
	if err != nil {
		return err
	}
	if rep["status"] != "OK" {
		return fmt.Errorf("PUT %s on %s: %v", key, endpoint, rep)
	}
	return nil
}

// get reads key from the node at endpoint; found is false for not_found.
func get(endpoint, key string, timeout time.Duration) (value any, found bool, err error) {
	rep, err := request(endpoint, map[string]any{"op": "GET_ONE", "key": key}, timeout)
	if err != nil {
		return nil, false, err
	}
	switch {
	case rep["status"] == "OK":
		return rep["value"], true, nil
	case rep["error"] == "not_found":
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("GET_ONE %s on %s: %v", key, endpoint, rep)
	}
}

package grade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// reqConn sends class-lab requests to one node's request endpoint over a
// REQ socket, one at a time, each with a timeout. After a failure the
// socket is replaced (a REQ socket that lost its reply cannot send again).
type reqConn struct {
	endpoint string
	timeout  time.Duration
	s        *zmq.Socket
}

func newReqConn(endpoint string, timeout time.Duration) *reqConn {
	return &reqConn{endpoint: endpoint, timeout: timeout}
}

// call sends msg and returns the reply's bytes.
func (c *reqConn) call(msg []byte) ([]byte, error) {
	if c.s == nil {
		s, err := zmq.NewSocket(zmq.REQ)
		if err != nil {
			return nil, err
		}
		_ = s.SetLinger(0)
		_ = s.SetSndtimeo(c.timeout)
		_ = s.SetRcvtimeo(c.timeout)
		if err := s.Connect(c.endpoint); err != nil {
			s.Close()
			return nil, err
		}
		c.s = s
	}
	if _, err := c.s.SendBytes(msg, 0); err != nil {
		c.close()
		return nil, fmt.Errorf("sending to %s: %w", c.endpoint, err)
	}
	frames, err := c.s.RecvMessageBytes(0)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("no reply from %s within %v", c.endpoint, c.timeout)
	}
	if len(frames) != 1 {
		return nil, fmt.Errorf("a reply of %d frames from %s, want 1", len(frames), c.endpoint)
	}
	return frames[0], nil
}

// callJSON sends req, encoded in JSON, and decodes the reply into an object.
func (c *reqConn) callJSON(req any) (reply, error) {
	msg, err := encode(req)
	if err != nil {
		return nil, err
	}
	b, err := c.call(msg)
	if err != nil {
		return nil, err
	}
	return decodeReply(b)
}

func (c *reqConn) close() {
	if c.s != nil {
		c.s.Close()
		c.s = nil
	}
}

// pusher sends fire-and-forget messages to one node's ingest endpoint over
// a PUSH socket; messages on it arrive in the order sent.
type pusher struct {
	endpoint string
	s        *zmq.Socket
}

func newPusher(endpoint string, timeout time.Duration) (*pusher, error) {
	s, err := zmq.NewSocket(zmq.PUSH)
	if err != nil {
		return nil, err
	}
	_ = s.SetSndtimeo(timeout)
	_ = s.SetLinger(timeout) // Close waits, within reason, for the queue to drain
	if err := s.Connect(endpoint); err != nil {
		s.Close()
		return nil, err
	}
	return &pusher{endpoint: endpoint, s: s}, nil
}

func (p *pusher) send(frames ...[]byte) error {
	var err error
	switch len(frames) {
	case 1:
		_, err = p.s.SendBytes(frames[0], 0)
	default:
		_, err = p.s.SendMessage(frames)
	}
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", p.endpoint, err)
	}
	return nil
}

func (p *pusher) sendJSON(v any) error {
	msg, err := encode(v)
	if err != nil {
		return err
	}
	return p.send(msg)
}

func (p *pusher) close() { p.s.Close() }

// reply is a decoded JSON reply.
type reply map[string]json.RawMessage

// decodeReply decodes one JSON object.
func decodeReply(b []byte) (reply, error) {
	var r reply
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&r); err != nil || r == nil {
		return nil, fmt.Errorf("a reply that is not a JSON object: %s", clip(b))
	}
	return r, nil
}

// str returns the string field name, and whether it is one.
func (r reply) str(name string) (string, bool) {
	raw, ok := r[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// statusOK checks that a successful reply's status, if it has one, is "OK"
// (the class spec's replies carry none).
func (r reply) statusOK() error {
	raw, ok := r["status"]
	if !ok {
		return nil
	}
	if s, _ := r.str("status"); s != "OK" {
		return fmt.Errorf("status %s, want \"OK\" (%s)", raw, r)
	}
	return nil
}

// errorShape checks that r is an error reply as docs/PROTOCOL.md gives it:
// {"status":"error","error":code,"message":text}, with code wantCode when
// wantCode is not empty.
func (r reply) errorShape(wantCode string) error {
	st, _ := r.str("status")
	code, codeOK := r.str("error")
	_, msgOK := r.str("message")
	switch {
	case st != "error":
		return fmt.Errorf("%s: want \"status\":\"error\"", r)
	case !codeOK || code == "":
		return fmt.Errorf("%s: want an \"error\" code string", r)
	case !msgOK:
		return fmt.Errorf("%s: want a \"message\" string", r)
	case wantCode != "" && code != wantCode:
		return fmt.Errorf("%s: want error %q", r, wantCode)
	}
	return nil
}

func (r reply) String() string {
	b, _ := json.Marshal(map[string]json.RawMessage(r))
	return clip(b)
}

// encode is json.Marshal without HTML escaping.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// clip shortens b for a scorecard.
func clip(b []byte) string {
	const n = 160
	if len(b) > n {
		return string(b[:n]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}

// entry is one element of a GET_ALL collection.
type entry struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// getAll sends GET_ALL and returns the collection as key -> value.
func (c *reqConn) getAll() (map[string]json.RawMessage, error) {
	b, err := c.call([]byte(`{"op":"GET_ALL"}`))
	if err != nil {
		return nil, err
	}
	return parseGetAll(b)
}

// parseGetAll decodes a GET_ALL reply into key -> value.
func parseGetAll(b []byte) (map[string]json.RawMessage, error) {
	var rep struct {
		Status     *string  `json:"status"`
		Collection *[]entry `json:"collection"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("GET_ALL reply is not {\"collection\":[{\"key\":...,\"value\":...},...]}: %v: %s", err, clip(b))
	}
	if rep.Status != nil && *rep.Status != "OK" {
		return nil, fmt.Errorf("GET_ALL answered status %q: %s", *rep.Status, clip(b))
	}
	if rep.Collection == nil {
		return nil, fmt.Errorf("GET_ALL reply without \"collection\": %s", clip(b))
	}
	out := make(map[string]json.RawMessage, len(*rep.Collection))
	for _, e := range *rep.Collection {
		if _, dup := out[e.Key]; dup {
			return nil, fmt.Errorf("GET_ALL returned key %q twice", e.Key)
		}
		out[e.Key] = e.Value
	}
	return out, nil
}

// sameString says whether the JSON value raw is the string s.
func sameString(raw json.RawMessage, s string) bool {
	var v string
	return json.Unmarshal(raw, &v) == nil && v == s
}

package node

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// python is Debian's interpreter, which has python3-zmq and python3-msgpack
// (the python3 on PATH may be a separate build without them).
const python = "/usr/bin/python3"

// TestPythonInterop runs testdata/interop.py, a pyzmq client speaking the
// exact class-lab JSON (and msgpack), against a real node.
func TestPythonInterop(t *testing.T) {
	if out, err := exec.Command(python, "-c", "import zmq, msgpack").CombinedOutput(); err != nil {
		msg := "python interop needs " + python + " with python3-zmq and python3-msgpack (`make bootstrap` installs them): " +
			strings.TrimSpace(string(out))
		if testing.Short() {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	n := startNode(t, Config{})
	out, err := exec.Command(python, "testdata/interop.py", n.RequestEndpoint(), n.IngestEndpoint()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "OK", strings.TrimSpace(string(out)))
}

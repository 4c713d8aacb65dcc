package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/grade"
	"github.com/zshard/zshard/internal/testcluster"
)

func TestGradeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"grade"},
		{"grade", "--server-cmd", "x", "--nodes", "0"},
		{"grade", "--server-cmd", "x", "--phases", "cases"},
	} {
		_, err := execute(t, args...)
		assert.True(t, errors.Is(err, errUsage), "%v: %v", args, err)
	}
}

// TestGradeReport grades the Python test server whose GET_ALL returns ten
// entries: the command fails naming GET_ALL, and the JSON report has one
// object per check.
func TestGradeReport(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs a Python server (runs without -short)")
	}
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import zmq").Run(); err != nil {
		t.Skipf("%s with pyzmq is needed (make bootstrap): %v", py, err)
	}
	script, err := filepath.Abs(filepath.Join("..", "internal", "grade", "testdata", "server.py"))
	require.NoError(t, err)
	base := testcluster.FreePortRange(t, 110)
	report := filepath.Join(t.TempDir(), "report.json")
	out, err := execute(t, "grade", "--json", "--nodes", "2", "--phases", "phase2", "--keys", "500",
		"--server-cmd", py+" "+script+" --bug getall-ten", "--base-rep-port", fmt.Sprint(base),
		"--base-pull-port", fmt.Sprint(base+100), "--report", report)
	require.ErrorContains(t, err, "1 of 6 checks failed: phase2/GET_ALL")
	data, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Equal(t, out, string(data))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6)
	var failed []string
	for _, l := range lines {
		var r grade.Result
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		if !r.Pass {
			failed = append(failed, r.Check)
			assert.Contains(t, r.Got, "10 entries, want 250")
		}
	}
	assert.Equal(t, []string{grade.CheckGetAll}, failed)
}

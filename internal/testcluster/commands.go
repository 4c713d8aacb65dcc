package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunWithCommands is the body of a TestMain whose tests run this module's
// commands as processes. It builds each command named in bins (its
// directory in the module, such as "server_consumer") into a new temporary
// directory, stores the binary's path in the variable bins maps it to,
// runs the tests and removes the directory. It returns the exit code for
// os.Exit: 1, without running the tests, when a command does not build.
func RunWithCommands(m *testing.M, bins map[string]*string) int {
	dir, err := os.MkdirTemp("", "zshard-commands")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	for cmd, path := range bins {
		*path = filepath.Join(dir, cmd)
		build := exec.Command("go", "build", "-o", *path, "github.com/zshard/zshard/"+cmd)
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", cmd, err, out)
			return 1
		}
	}
	return m.Run()
}

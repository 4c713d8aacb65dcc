//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"
)

// Image defaults: the tags docker/build-images.sh makes.
const (
	defaultZshardImage = "zshard/zshard:local"
	defaultConsulImage = "zshard/consul:local"
)

// cluster is one compose project of docker-compose.yml, private to a test.
type cluster struct {
	t          *testing.T
	project    string
	composeCmd []string // e.g. [docker compose] or [docker-compose]
	files      []string // docker-compose.yml and the test's override
	subnet     string   // the project network's subnet, e.g. 172.28.5.0/24
	env        []string
	consulPort int
}

// repoRoot is the directory holding docker-compose.yml.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	_, err := os.Stat(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err, "docker-compose.yml not found at the repository root")
	return root
}

// composeCommand returns the compose command: $ZSHARD_COMPOSE, else the
// docker compose plugin if present, else docker-compose.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if c := strings.Fields(os.Getenv("ZSHARD_COMPOSE")); len(c) > 0 {
		return c
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Fatal("neither `docker compose` nor `docker-compose` is available (Debian: apt-get install docker-compose)")
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// freePort returns a TCP port free on 127.0.0.1 now, below the ephemeral
// range (32768 and up), where an outgoing connection could take it before
// Docker publishes it.
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		port := 11000 + mathrand.IntN(21000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port in 11000-31999")
	return 0
}

// newCluster prepares a compose project of docker-compose.yml and the
// override files extra (relative to the repository root), with a random
// name and a free loopback port for Consul's HTTP API. Its cleanup brings
// everything down (containers, networks, volumes) and fails the test if
// anything of the project remains.
func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("docker is not installed")
	}
	out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	require.NoError(t, err, "cannot reach the Docker engine: %s", out)

	zshardImage := envOr("ZSHARD_IMAGE", defaultZshardImage)
	consulImage := envOr("CONSUL_IMAGE", defaultConsulImage)
	for _, img := range []string{zshardImage, consulImage} {
		out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", img).CombinedOutput()
		require.NoError(t, err, "image %s is missing: build it with make docker-images (%s)", img, bytes.TrimSpace(out))
	}

	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	c := &cluster{
		t:          t,
		project:    "zshard-e2e-" + hex.EncodeToString(suffix[:]),
		composeCmd: composeCommand(t),
		subnet:     freeSubnet(t),
		consulPort: freePort(t),
	}
	// The override gives the network a known subnet, so the test can
	// reconnect a container with the address of its choice (docker network
	// connect --ip works only on networks with a configured subnet).
	override := filepath.Join(t.TempDir(), "docker-compose.e2e.yml")
	require.NoError(t, os.WriteFile(override, []byte(fmt.Sprintf(
		"networks:\n  cluster:\n    ipam:\n      config:\n        - subnet: %s\n", c.subnet)), 0o644))
	c.files = []string{filepath.Join(repoRoot(t), "docker-compose.yml")}
	for _, f := range extra {
		c.files = append(c.files, filepath.Join(repoRoot(t), f))
	}
	c.files = append(c.files, override)
	c.env = append(os.Environ(),
		"ZSHARD_IMAGE="+zshardImage,
		"CONSUL_IMAGE="+consulImage,
		"CONSUL_PORT="+strconv.Itoa(c.consulPort),
		"COMPOSE_PROJECT_NAME="+c.project,
	)
	t.Logf("compose project %s (%s), images %s and %s, network %s, Consul on 127.0.0.1:%d",
		c.project, strings.Join(c.composeCmd, " "), zshardImage, consulImage, c.subnet, c.consulPort)
	t.Cleanup(c.teardown)
	return c
}

// freeSubnet picks a /24 in 172.28.0.0/16 that no Docker network and no
// route of this host uses.
func freeSubnet(t *testing.T) string {
	t.Helper()
	used, err := tryDocker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", "bridge")
	require.NoError(t, err, used)
	ids, err := tryDocker("network", "ls", "-q")
	require.NoError(t, err, ids)
	if ids != "" {
		out, err := tryDocker(append([]string{"network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, strings.Fields(ids)...)...)
		require.NoError(t, err, out)
		used += " " + out
	}
	if out, err := exec.Command("ip", "-4", "route").Output(); err == nil {
		used += " " + string(out)
	}
	for n := 1; n < 255; n++ {
		prefix := fmt.Sprintf("172.28.%d.", n)
		if !strings.Contains(used, prefix) && !strings.Contains(used, "172.28.0.0/16") {
			return prefix + "0/24"
		}
	}
	t.Fatal("no free /24 in 172.28.0.0/16 for the test network")
	return ""
}

// ipInSubnet returns host number h of the cluster's /24, e.g. 172.28.5.h.
func (c *cluster) ipInSubnet(h int) string {
	return strings.TrimSuffix(c.subnet, "0/24") + strconv.Itoa(h)
}

// compose runs one compose command of the project and returns its combined
// output; it fails the test on error.
func (c *cluster) compose(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.tryCompose(timeout, args...)
	require.NoError(c.t, err, "%s %s:\n%s", strings.Join(c.composeCmd, " "), strings.Join(args, " "), out)
	return out
}

// consulAddr is the address of the cluster's Consul HTTP API on this host.
func (c *cluster) consulAddr() string { return "127.0.0.1:" + strconv.Itoa(c.consulPort) }

// up starts the cluster's containers (the images must exist) and returns
// a client of its Consul's HTTP API.
func (c *cluster) up() *api.Client {
	c.t.Helper()
	t0 := time.Now()
	c.compose(5*time.Minute, "up", "-d", "--no-build")
	c.t.Logf("compose up -d took %s", time.Since(t0).Round(100*time.Millisecond))
	cfg := api.DefaultConfig()
	cfg.Address = c.consulAddr()
	cc, err := api.NewClient(cfg)
	require.NoError(c.t, err)
	return cc
}

func (c *cluster) tryCompose(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{}, c.composeCmd[1:]...)
	for _, f := range c.files {
		full = append(full, "-f", f)
	}
	full = append(full, "-p", c.project)
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, c.composeCmd[0], full...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %s", ctx.Err(), timeout)
	}
	return string(out), err
}

// docker runs a docker command and fails the test on error.
func (c *cluster) docker(args ...string) string {
	c.t.Helper()
	out, err := tryDocker(args...)
	require.NoError(c.t, err, "docker %s:\n%s", strings.Join(args, " "), out)
	return out
}

func tryDocker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// container returns the ID of a service's container.
func (c *cluster) container(service string) string {
	c.t.Helper()
	id := strings.TrimSpace(c.compose(time.Minute, "ps", "-q", service))
	require.NotEmpty(c.t, id, "service %s has no container", service)
	require.NotContains(c.t, id, "\n", "service %s has several containers", service)
	return id
}

// network returns the name of the project's network.
func (c *cluster) network() string {
	c.t.Helper()
	names := c.projectObjects("network")
	require.Len(c.t, names, 1, "want exactly one network of project %s", c.project)
	return names[0]
}

// containerIP returns a container's IPv4 address on the project's network.
func (c *cluster) containerIP(id string) string {
	c.t.Helper()
	format := fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, c.network())
	return c.docker("inspect", "--format", format, id)
}

// projectObjects lists the containers or networks (kind) carrying the
// project's compose label.
func (c *cluster) projectObjects(kind string) []string {
	c.t.Helper()
	var args []string
	switch kind {
	case "container":
		args = []string{"ps", "-a", "--format", "{{.Names}}"}
	case "network":
		args = []string{"network", "ls", "--format", "{{.Name}}"}
	case "volume":
		args = []string{"volume", "ls", "--format", "{{.Name}}"}
	default:
		c.t.Fatalf("unknown kind %q", kind)
	}
	args = append(args, "--filter", "label=com.docker.compose.project="+c.project)
	out := c.docker(args...)
	return strings.Fields(out)
}

// teardown dumps the logs of a failed run, restores what the test may have
// left paused, brings the project down with its volumes and networks, and
// checks that nothing of it remains.
func (c *cluster) teardown() {
	t := c.t
	if t.Failed() {
		if out, err := c.tryCompose(time.Minute, "--profile", "spare", "--profile", "tools", "logs", "--no-color", "--tail", "60"); err == nil {
			t.Logf("compose logs (last lines of each service):\n%s", out)
		}
	}
	// A paused container cannot be stopped; unpause whatever is paused.
	if out, err := tryDocker("ps", "-q", "--filter", "status=paused", "--filter", "label=com.docker.compose.project="+c.project); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = tryDocker("unpause", id)
		}
	}
	start := time.Now()
	out, err := c.tryCompose(3*time.Minute, "--profile", "spare", "--profile", "tools", "down", "--volumes", "--remove-orphans", "--timeout", "30")
	if err != nil {
		t.Errorf("compose down: %v\n%s", err, out)
	}
	t.Logf("compose down took %s", time.Since(start).Round(100*time.Millisecond))
	for _, kind := range []string{"container", "network", "volume"} {
		if left := c.projectObjects(kind); len(left) > 0 {
			t.Errorf("%ss of project %s left behind: %v", kind, c.project, left)
		}
	}
}

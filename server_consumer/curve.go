package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/zshard/zshard/internal/curve"
)

// curveFlags configure CURVE on the nodes (docs/SECURITY.md).
type curveFlags struct {
	secretFile       string // the nodes' shared secret key
	clients          string // allowlist directory of ordinary clients
	admins           string // allowlist directory of admins
	nodeKeys         string // directory of per-node keys <name>.secret
	clientSecretFile string // the key the nodes use as clients of each other
}

func (f *curveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.secretFile, "curve-secret-file", "", "make both endpoints CURVE servers with this secret key (from client_producer keygen); the public key is registered as Consul Meta curve")
	fs.StringVar(&f.clients, "curve-clients", "", "with CURVE: directory of the public keys (*.pub) allowed the ordinary operations; re-read when it changes")
	fs.StringVar(&f.admins, "curve-admins", "", "with CURVE: directory of the public keys (*.pub) also allowed the maintenance operations (DELETE_PARTITIONS, raw PUT, repair scans); the node's own key always is")
	fs.StringVar(&f.nodeKeys, "curve-node-keys", "", "with CURVE: directory of per-node secret keys; node <name> uses <dir>/<name>.secret when it exists, else --curve-secret-file")
	fs.StringVar(&f.clientSecretFile, "curve-client-secret-file", "", "with CURVE: the key the node uses to reach other nodes (catch-up, background repair), one of their admins (default: its own server key)")
}

// enabled reports whether any CURVE flag is given.
func (f *curveFlags) enabled() bool {
	return f.secretFile != "" || f.clients != "" || f.admins != "" || f.nodeKeys != "" || f.clientSecretFile != ""
}

// args renders the flags for a child process: none without CURVE.
func (f *curveFlags) args() []string {
	var out []string
	for _, a := range []struct{ flag, v string }{
		{"--curve-secret-file", f.secretFile}, {"--curve-clients", f.clients}, {"--curve-admins", f.admins},
		{"--curve-node-keys", f.nodeKeys}, {"--curve-client-secret-file", f.clientSecretFile},
	} {
		if a.v != "" {
			out = append(out, a.flag, a.v)
		}
	}
	return out
}

// check reports a missing or unreadable CURVE flag once, in the command
// given, rather than in every node process.
func (f *curveFlags) check() error {
	if !f.enabled() {
		return nil
	}
	if err := curve.Available(); err != nil {
		return err
	}
	if f.secretFile == "" && f.nodeKeys == "" {
		return errors.New("CURVE needs --curve-secret-file (or --curve-node-keys)")
	}
	if f.clients == "" {
		return errors.New("CURVE needs --curve-clients, the directory of allowed client keys (it may be empty)")
	}
	if f.secretFile != "" {
		if _, err := curve.LoadSecretFile(f.secretFile); err != nil {
			return fmt.Errorf("--curve-secret-file: %w", err)
		}
	}
	for _, d := range []struct{ flag, dir string }{{"--curve-clients", f.clients}, {"--curve-admins", f.admins}, {"--curve-node-keys", f.nodeKeys}} {
		if d.dir == "" {
			continue
		}
		if fi, err := os.Stat(d.dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s %s: not a readable directory", d.flag, d.dir)
		}
	}
	if f.clientSecretFile != "" {
		if _, err := curve.LoadSecretFile(f.clientSecretFile); err != nil {
			return fmt.Errorf("--curve-client-secret-file: %w", err)
		}
	}
	return nil
}

// server returns the CURVE configuration of the node called name, and the
// identity it uses as a client of the nodes (nil, nil without CURVE).
func (f *curveFlags) server(name string) (*curve.ServerConfig, *curve.Client, error) {
	if !f.enabled() {
		return nil, nil, nil
	}
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	path := f.secretFile
	if f.nodeKeys != "" {
		if p := filepath.Join(f.nodeKeys, name+".secret"); fileExists(p) || f.secretFile == "" {
			path = p
		}
	}
	kp, err := curve.LoadSecretFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("node %s: %w", name, err)
	}
	sc := &curve.ServerConfig{Key: kp, ClientsDir: f.clients, AdminsDir: f.admins}
	var cc *curve.Client
	if f.clientSecretFile != "" {
		if cc, err = curve.LoadClient(f.clientSecretFile, ""); err != nil {
			return nil, nil, fmt.Errorf("--curve-client-secret-file: %w", err)
		}
	}
	return sc, cc, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// warnPlaintext warns when a node without CURVE binds an address other
// hosts can reach.
func warnPlaintext(log *slog.Logger, bind string, cf *curveFlags) {
	if cf.enabled() {
		return
	}
	if ip := net.ParseIP(bind); ip != nil && ip.IsLoopback() || bind == "localhost" {
		return
	}
	log.Warn("binding a non-loopback address without CURVE: anyone who reaches these ports can read, overwrite and erase every key; see docs/SECURITY.md (--curve-secret-file, --curve-clients)", "bind", bind)
}

package curve

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Role is what a client key may do on a node.
type Role uint8

// Roles.
const (
	// RoleNone: the key is not allowed; its connections are refused.
	RoleNone Role = iota
	// RoleClient: the ordinary operations (PUT, GET_ONE, GET_ALL, DELETE,
	// SCAN, BATCH, SYNC, PING, STATS).
	RoleClient
	// RoleAdmin: every operation, the maintenance ones too.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// Allowlist maps client public keys to roles: the keys in the *.pub files
// of a clients directory (RoleClient) and of an admins directory
// (RoleAdmin), plus fixed admin keys. Refresh re-reads the directories when
// they changed. It is safe for concurrent use.
type Allowlist struct {
	clients, admins string
	fixed           []string // always RoleAdmin
	log             *slog.Logger

	roles atomic.Pointer[map[string]Role]
	mu    sync.Mutex // serialises loads
	sig   string     // what the directories looked like at the last load
}

// NewAllowlist reads the allowlist of clientsDir and adminsDir (either may
// be "": none); fixedAdmins are admitted as admins whatever the
// directories hold. A directory that cannot be read is an error here; on
// a later Refresh it keeps the previous list and is logged.
func NewAllowlist(clientsDir, adminsDir string, fixedAdmins []string, log *slog.Logger) (*Allowlist, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Allowlist{clients: clientsDir, admins: adminsDir, fixed: fixedAdmins, log: log}
	if _, err := a.load(true); err != nil {
		return nil, err
	}
	return a, nil
}

// Role returns the role of the client key (Z85).
func (a *Allowlist) Role(key string) Role {
	if key == "" {
		return RoleNone
	}
	return (*a.roles.Load())[key]
}

// Len returns how many keys the list admits.
func (a *Allowlist) Len() int { return len(*a.roles.Load()) }

// Refresh re-reads the directories if any of them, or a file in them,
// changed since the last load, and reports whether the list was reloaded.
func (a *Allowlist) Refresh() bool {
	ok, err := a.load(false)
	if err != nil {
		a.log.Warn("CURVE allowlist not reloaded; the previous one stays in force", "err", err)
	}
	return ok
}

// Reload re-reads the directories whether or not they changed.
func (a *Allowlist) Reload() error {
	_, err := a.load(true)
	return err
}

func (a *Allowlist) load(force bool) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sig, err := a.signature()
	if err != nil {
		return false, err
	}
	if !force && sig == a.sig {
		return false, nil
	}
	roles := map[string]Role{}
	for _, d := range []struct {
		dir  string
		role Role
	}{{a.clients, RoleClient}, {a.admins, RoleAdmin}} {
		if d.dir == "" {
			continue
		}
		keys, err := readKeyDir(d.dir, a.log)
		if err != nil {
			return false, err
		}
		for _, k := range keys {
			roles[k] = max(roles[k], d.role)
		}
	}
	for _, k := range a.fixed {
		roles[k] = RoleAdmin
	}
	a.roles.Store(&roles)
	if a.sig != "" {
		a.log.Info("CURVE allowlist reloaded", "keys", len(roles))
	}
	a.sig = sig
	return true, nil
}

// signature describes the directories' *.pub files (names, sizes and
// modification times), so that a change shows as a different string.
func (a *Allowlist) signature() (string, error) {
	var b strings.Builder
	for _, dir := range []string{a.clients, a.admins} {
		if dir == "" {
			continue
		}
		files, err := pubFiles(dir)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:", dir)
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				continue // removed meanwhile: the next Refresh sees it
			}
			fmt.Fprintf(&b, "%s/%d/%d;", filepath.Base(f), fi.Size(), fi.ModTime().UnixNano())
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func pubFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("curve: allowlist directory: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".pub") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// readKeyDir returns the keys of the *.pub files in dir; a file that holds
// no key is logged and skipped.
func readKeyDir(dir string, log *slog.Logger) ([]string, error) {
	files, err := pubFiles(dir)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(files))
	for _, f := range files {
		k, err := ReadKeyFile(f)
		if err != nil {
			log.Warn("skipping a file that holds no CURVE public key", "file", f, "err", err)
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// RateLog logs at most one message per Every, counting those it held
// back, so that a stream of refused clients cannot flood the log.
type RateLog struct {
	Log   *slog.Logger
	Every time.Duration // default 1s

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Warn logs msg with args unless one was logged less than Every ago.
func (r *RateLog) Warn(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	every := r.Every
	if every == 0 {
		every = time.Second
	}
	if now.Sub(r.last) < every {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	r.Log.Warn(msg, append(args, "suppressed_since_last", n)...)
}

package consul

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/hashicorp/consul/api"
)

// PermissionError is a call the agent refused because of an ACL: the token
// zshard sent lacks a permission, is unknown to Consul, or no token was
// sent and the anonymous token may not do it. Retrying cannot help; the
// programs report it and exit non-zero. It wraps ErrPermissionDenied.
type PermissionError struct {
	// What is the operation refused, e.g. "writing settings".
	What string
	// Permission is the missing permission as Consul names it, e.g.
	// "key:write"; empty when Consul did not say (an unknown token, or
	// results hidden by ACLs).
	Permission string
	// Resource is what the permission was asked on, e.g. "zshard/cluster".
	Resource string
	// Token says which token was sent and where it came from.
	Token string
	// Detail is Consul's own message.
	Detail string
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "consul: %s: permission denied by a Consul ACL: ", e.What)
	switch {
	case e.Permission != "":
		fmt.Fprintf(&b, "%s lacks %s on %q", e.Token, e.Permission, e.Resource)
	case strings.Contains(e.Detail, "ACL not found"):
		fmt.Fprintf(&b, "%s is not a token this Consul cluster knows (ACL not found)", e.Token)
	default:
		fmt.Fprintf(&b, "%s: %s", e.Token, e.Detail)
	}
	b.WriteString("; give zshard a token whose policy grants it (docs/SECURITY.md, deploy/consul-acl/)")
	return b.String()
}

func (e *PermissionError) Unwrap() error { return ErrPermissionDenied }

// lacksRE finds the permission in Consul's refusal, e.g.
// Permission denied: token with AccessorID '…' lacks permission 'key:write' on "zshard/cluster"
var lacksRE = regexp.MustCompile(`lacks permission '([^']+)' on "([^"]*)"`)

// permissionError returns the *PermissionError err stands for, or nil when
// err is not an ACL refusal.
func (c *Client) permissionError(what string, err error) *PermissionError {
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		return nil
	}
	if !strings.Contains(se.Body, "Permission denied") && !strings.Contains(se.Body, "ACL not found") {
		return nil
	}
	pe := &PermissionError{What: what, Token: c.tokenSource, Detail: se.Body}
	if m := lacksRE.FindStringSubmatch(se.Body); m != nil {
		pe.Permission, pe.Resource = m[1], m[2]
	}
	return pe
}

// filteredError reports results the agent hid because the token may not
// see them: zshard must not act on a partial view (a producer would place
// keys on the wrong nodes).
func (c *Client) filteredError(what, permission, resource string) *PermissionError {
	return &PermissionError{What: what, Permission: permission, Resource: resource, Token: c.tokenSource,
		Detail: "results filtered by ACLs"}
}

package noderun

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// advertiseAddr picks the address written into the registration.
func advertiseAddr(advertise, bind string) (string, error) {
	if advertise != "" {
		return advertise, nil
	}
	if !isWildcard(bind) {
		return bind, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("finding an address to advertise: %w (set --advertise)", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", errors.New("no non-loopback IPv4 address to advertise; set --advertise")
}

// isWildcard reports whether bind listens on every interface.
func isWildcard(bind string) bool {
	ip := net.ParseIP(bind)
	return ip != nil && ip.IsUnspecified()
}

// loopbackFor returns the address the node's own health check connects to.
func loopbackFor(bind string) string {
	if isWildcard(bind) {
		return "127.0.0.1"
	}
	return bind
}

// withHost replaces the host of a tcp://host:port endpoint.
func withHost(endpoint, host string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	_, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return endpoint
	}
	u.Host = net.JoinHostPort(host, port)
	return u.String()
}

// splitHostPort returns the host and port of a tcp://host:port endpoint.
func splitHostPort(endpoint string) (host, port string, err error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", err
	}
	return net.SplitHostPort(u.Host)
}

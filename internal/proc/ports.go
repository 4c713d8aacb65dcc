package proc

import "net"

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago, for programs started with ports of their own (a private
// Consul agent, a redis-server). Another process may take one before it is
// used; a socket that can bind port 0 and read its endpoint back should.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

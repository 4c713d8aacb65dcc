// Package consulflag holds the command-line flags that give the Consul
// client its ACL token and TLS settings, shared by server_consumer and
// client_producer so both spell them the same way. Each flag's default is
// the CONSUL_* variable the Consul CLI reads (consul.Config).
package consulflag

import (
	"github.com/spf13/pflag"

	"github.com/zshard/zshard/consul"
)

// Flags are the token and TLS flags. The zero value leaves every setting
// to the environment.
type Flags struct {
	TokenFile  string
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
}

// Flag names, also used to forward the settings to child processes.
const (
	TokenFileFlag  = "consul-token-file"
	CAFileFlag     = "consul-cacert"
	CertFileFlag   = "consul-client-cert"
	KeyFileFlag    = "consul-client-key"
	ServerNameFlag = "consul-tls-server-name"
)

// Register defines the flags on fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&f.TokenFile, TokenFileFlag, "", "file holding the Consul ACL token (default $CONSUL_HTTP_TOKEN_FILE, else the token in $CONSUL_HTTP_TOKEN)")
	fs.StringVar(&f.CAFile, CAFileFlag, "", "CA certificate to verify the Consul agent's HTTPS certificate; any TLS flag switches to HTTPS (default $CONSUL_CACERT)")
	fs.StringVar(&f.CertFile, CertFileFlag, "", "client certificate for a Consul agent that verifies clients (default $CONSUL_CLIENT_CERT)")
	fs.StringVar(&f.KeyFile, KeyFileFlag, "", "key of --consul-client-cert (default $CONSUL_CLIENT_KEY)")
	fs.StringVar(&f.ServerName, ServerNameFlag, "", "name the Consul agent's certificate must carry (default $CONSUL_TLS_SERVER_NAME, else the host of the address)")
}

// Apply copies the flags into c.
func (f Flags) Apply(c *consul.Config) {
	c.TokenFile = f.TokenFile
	c.TLS = consul.TLSConfig{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile, ServerName: f.ServerName}
}

// Args renders the token and TLS settings of c as flags, for a child
// process (the environment it inherits covers the rest).
func Args(c consul.Config) []string {
	var args []string
	for _, f := range []struct{ name, v string }{
		{TokenFileFlag, c.TokenFile}, {CAFileFlag, c.TLS.CAFile}, {CertFileFlag, c.TLS.CertFile},
		{KeyFileFlag, c.TLS.KeyFile}, {ServerNameFlag, c.TLS.ServerName},
	} {
		if f.v != "" {
			args = append(args, "--"+f.name, f.v)
		}
	}
	return args
}

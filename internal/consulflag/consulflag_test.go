package consulflag

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
)

// TestArgsRoundTrip checks that the flags a supervisor renders for its
// nodes parse back into the same settings.
func TestArgsRoundTrip(t *testing.T) {
	for name, f := range map[string]Flags{
		"none":       {},
		"token only": {TokenFile: "/run/secrets/node.token"},
		"everything": {TokenFile: "t", CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "consul.example"},
	} {
		t.Run(name, func(t *testing.T) {
			var c consul.Config
			f.Apply(&c)
			var got Flags
			fs := pflag.NewFlagSet("node", pflag.ContinueOnError)
			got.Register(fs)
			require.NoError(t, fs.Parse(Args(c)))
			require.Equal(t, f, got)
		})
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/grade"
)

func newGradeCmd(g *globalConfig) *cobra.Command {
	var (
		cfg       grade.Config
		useConsul bool
		report    string
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "grade --server-cmd CMD --nodes N",
		Short: "Grade a class-lab server: start it, run the class's checks, print a scorecard",
		Long: `grade starts a student's server as "CMD N" (the class's launch format: with
--server-cmd "python server_consumer.py" and --nodes 4 it runs
"python server_consumer.py 4"), in a process group of its own, runs the class's
checks phase by phase, and prints a scorecard: each check, pass or FAIL, what was
expected and what came back. The server's whole process group is killed at the
end, also on Ctrl-C. Every check has a timeout: a hung server fails a check.

  phase1   PUTs pushed to every node's ingest port (2100+i) are stored;
           malformed messages there do not kill a node
  phase2   GET_ONE and GET_ALL on the request ports (2000+i) return exactly
           what was written (unicode keys and values, --keys keys); a missing
           key is a not_found error; one reply per request; malformed
           requests are answered with an error
  consul   (--consul) the nodes register as service zshard in a private
           Consul agent, a node starts on an add signal and stops on a remove
           signal (zshard/nodes/NAME), every node deregisters on SIGTERM
  cases    (--consul) the instructor's cases at R=0 and R=2: zshard's producer
           loads keys, its rebalancer adds node-N and removes node-0; every key
           must be readable and held by exactly the right nodes (these need a
           server that speaks zshard's protocol v1, not only the class requests)

Each phase starts the server afresh. The server finds its ports in
ZSHARD_BASE_PORT and ZSHARD_BASE_PULL_PORT (it may ignore them if it uses the
defaults) and, with --consul, the agent in CONSUL_HTTP_ADDR; every phase then
takes the nodes' endpoints from their registrations. Exit status 1 if any
check fails.`,
		Example: `  client_producer grade --nodes 4 --server-cmd "server_consumer --static"
  client_producer grade --nodes 4 --server-cmd "pipenv run python server_consumer.py" --json --report alice.json
  client_producer grade --nodes 4 --server-cmd server_consumer --consul`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Consul = useConsul
			if useConsul && cfg.ConsulBin == "" {
				cfg.ConsulBin = defaultConsulBin()
			}
			if verbose {
				cfg.Progress, cfg.ServerLog = cmd.ErrOrStderr(), cmd.ErrOrStderr()
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			card, err := grade.Run(cmd.Context(), cfg)
			if len(card) == 0 {
				return err
			}
			var out bytes.Buffer
			if g.JSON {
				_ = card.WriteJSON(&out)
			} else {
				_ = card.WriteText(&out)
			}
			if _, werr := cmd.OutOrStdout().Write(out.Bytes()); werr != nil {
				return werr
			}
			if report != "" {
				if werr := os.WriteFile(report, out.Bytes(), 0o644); werr != nil {
					return werr
				}
			}
			if err != nil {
				return err
			}
			if failed := card.Failed(); len(failed) > 0 {
				return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(card), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.ServerCmd, "server-cmd", "", "the server's launch command CMD; the grader runs \"CMD N\" with sh -c (required)")
	fs.IntVar(&cfg.Nodes, "nodes", 4, "cluster size N")
	fs.BoolVar(&useConsul, "consul", false, "also run the Consul phases, against a private agent the grader starts")
	fs.StringVar(&cfg.ConsulBin, "consul-bin", "", "the consul binary (default: consul next to this program, else on PATH)")
	fs.StringVar(&cfg.Service, "service", "zshard", "the Consul service name the nodes register under")
	fs.StringVar(&cfg.Prefix, "prefix", "zshard/", "the Consul KV prefix of the add/remove signals (PREFIXnodes/NAME)")
	fs.StringSliceVar(&cfg.Phases, "phases", nil, "phases to run: phase1, phase2, consul, cases (default: phase1,phase2, and with --consul all)")
	fs.StringVar(&cfg.Host, "host", "127.0.0.1", "the host the nodes listen on")
	fs.IntVar(&cfg.RepBase, "base-rep-port", envInt("ZSHARD_BASE_PORT", 2000), "request port of node-0; node-i on base+i (default from ZSHARD_BASE_PORT)")
	fs.IntVar(&cfg.PullBase, "base-pull-port", 0, "ingest port of node-0; node-i on base+i (default from ZSHARD_BASE_PULL_PORT, else base-rep-port+100)")
	fs.IntVar(&cfg.Keys, "keys", 10000, "keys phase 2 writes over the nodes")
	fs.IntVar(&cfg.CaseKeys, "case-keys", 2000, "keys each instructor's case loads")
	fs.DurationVar(&cfg.Timeout, "timeout", grade.DefaultTimeout, "the longest a check waits for the server")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", grade.DefaultStartTimeout, "the longest the server may take to listen (and register)")
	fs.StringVar(&report, "report", "", "also write the scorecard to FILE")
	fs.BoolVarP(&verbose, "verbose", "v", false, "show the checks as they run, and the server's output, on stderr")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("base-pull-port") {
			cfg.PullBase = envInt("ZSHARD_BASE_PULL_PORT", cfg.RepBase+100)
		}
		return nil
	}
	return cmd
}

// envInt returns the integer in the environment variable name, or def.
func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil {
		return def
	}
	return v
}

// defaultConsulBin is consul next to this program (make build puts both
// in bin/), as it was invoked or where its symlink leads, else consul on
// PATH.
func defaultConsulBin() string {
	var dirs []string
	if strings.ContainsRune(os.Args[0], filepath.Separator) {
		dirs = append(dirs, filepath.Dir(os.Args[0]))
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "consul")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	return "consul"
}

package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"

	"github.com/ftm-in-go/ftm/internal/buildinfo"
	"github.com/ftm-in-go/ftm/node/control"
)

// version is set at link time by the Makefile
// (-X github.com/ftm-in-go/ftm/node.version=...); unstamped, the binary's
// build information names it (buildinfo.Version).
var version = buildinfo.Unstamped

// Main is the entry point of a node binary, and the one function of the
// package that reads the environment, prints and exits; a binary's main
// calls it and nothing else:
//
//	func main() { node.Main(node.Program("mp3d", mp3d.Run), node.Server("bank", bank.New)) }
//
// It parses the standard node flags (--dir, --name, --metrics-addr: the
// ones `ftmctl pair up` passes), logs JSON lines to stderr, runs the node
// until SIGTERM or SIGINT, and exits: status 0 once stopped by a signal, 1 with a
// one-line error on stderr, 2 for bad flags.
//
// Crash tests arm failpoints through the binary's main, the only kind of
// package that may import internal/failpoint:
//
//	node.Failpoints(os.Getenv(failpoint.EnvVar), failpoint.Arm)
func Main(regs ...Registration) {
	os.Exit(mainCode(os.Args, os.Stderr, regs))
}

// mainCode is Main without the exit: the status it exits with.
func mainCode(args []string, stderr io.Writer, regs []Registration) int {
	prog := filepath.Base(args[0])
	cfg, err := parseFlags(prog, args[1:], stderr)
	if errors.Is(err, errVersion) {
		fmt.Fprintf(os.Stdout, "%s %s\n", prog, buildinfo.Version(version))
		return 0
	}
	if err != nil {
		return 2
	}
	log, err := newLogger()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	cfg.Logger = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	run := func() error { return Run(ctx, cfg, regs...) }
	if cfg.Witness {
		run = func() error { return RunWitnessNamed(ctx, cfg.Dir, cfg.Name, log) }
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}

// errVersion is --version: print the version and exit 0.
var errVersion = errors.New("version asked")

// parseFlags reads the standard node flags.
func parseFlags(prog string, args []string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: %s --name NAME [--dir DIR] [--listen ADDR] [--link-cert FILE --link-key FILE --link-ca FILE | --plain-links]
          [--metrics-addr ADDR [--web-config-file FILE]]
       %s --witness [--name WITNESS] [--dir DIR]

%s runs one node of the pair described by DIR/pair.json (ftmctl pair up
starts two): it links to its partner over mutual TLS (both ends present
a certificate of the pair's CA, by default DIR/tls/NAME.crt and .key with
DIR/tls/ca.crt, which ftmctl pair up makes), listening on its address in
pair.json or on --listen, watches it with heartbeats, and serves the
control socket DIR/NAME.sock that ftmctl uses (each request must carry a
token derived from DIR/secret). --plain-links runs the links without TLS,
authenticated by DIR/secret only and unencrypted. With
--metrics-addr it also serves its figures in the Prometheus text format at
http://ADDR/metrics, with /healthz and /readyz beside it (loopback addresses
only, unless --web-config-file names an exporter-toolkit web configuration
that turns on TLS and basic auth; port 0 picks a free port). It logs JSON
lines to stderr. SIGTERM or SIGINT stops it cleanly.

With --witness it runs the pair's witness instead: the third voter of the
group that agrees on which node holds each bank and grants the leases
(DIR/pair.json names it; ftmctl pair up starts it), holding no bank. A
cluster (ftmctl cluster up) has several witnesses: --name picks one.

`, prog, prog, prog)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Dir, "dir", defaultDir(), "the pair's state directory")
	fs.StringVar(&cfg.Name, "name", "", "this node's name (one of the pair's nodes)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this loopback address (e.g. 127.0.0.1:0)")
	fs.StringVar(&cfg.WebConfigFile, "web-config-file", "", "exporter-toolkit web configuration (TLS, basic auth) for --metrics-addr")
	linkFlags(fs, &cfg)
	fs.BoolVar(&cfg.Witness, "witness", false, "run the pair's witness (DIR/pair.json names it): a voter of the group that holds no bank")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *showVersion {
		return cfg, errVersion
	}
	if cfg.Witness && fs.NArg() == 0 {
		return cfg, nil
	}
	if cfg.Name == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: --name is required and there are no arguments\n", prog)
		fs.Usage()
		return cfg, flag.ErrHelp
	}
	if err := control.CheckNodeName(cfg.Name); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return cfg, err
	}
	return cfg, nil
}

// linkFlags are the flags of the node's link to its partner: where it
// listens, its TLS certificate files, or plain links.
func linkFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Listen, "listen", "", "listen for the partner's link on this address (default: the node's address in pair.json)")
	fs.StringVar(&cfg.LinkCerts.Cert, "link-cert", "", "this node's link certificate (default DIR/tls/NAME.crt)")
	fs.StringVar(&cfg.LinkCerts.Key, "link-key", "", "this node's link private key (default DIR/tls/NAME.key)")
	fs.StringVar(&cfg.LinkCerts.CA, "link-ca", "", "the CA that signs the pair's link certificates (default DIR/tls/ca.crt)")
	fs.BoolVar(&cfg.PlainLinks, "plain-links", false, "run the links without TLS: authenticated by DIR/secret only, unencrypted")
}

// defaultDir is the pair's directory unless --dir says: $FTM_DIR, or .ftm.
func defaultDir() string {
	if d := os.Getenv("FTM_DIR"); d != "" {
		return d
	}
	return ".ftm"
}

// newLogger logs JSON lines to stderr, unsampled.
func newLogger() (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.Sampling = nil
	cfg.OutputPaths = []string{"stderr"}
	return cfg.Build()
}

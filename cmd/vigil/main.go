// Command vigil is the one binary of vigil: `vigil all` runs every part in
// one process on the embedded default; `vigil agent`, `processor` and `api`
// run one part each against a shared NATS and index.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/vigil-telemetry/vigil/api/billing"
	"github.com/vigil-telemetry/vigil/cmd/vigil/app"
	"github.com/vigil-telemetry/vigil/cmd/vigil/config"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

const usage = `usage: vigil <command> [flags]

commands:
  all          run agents, processor and API in one process (embedded NATS, SQLite, local storage by default)
  agent        run the polling agent
  processor    run the sample processor (bus → storage)
  api          run the REST API (Gnocchi v1, Aodh v2, billing)
  evaluator    run the alarm evaluator and notifier
  migrate      upgrade the index schema and exit
  config       'config default' prints the default configuration file
  billing      'billing export --from T --to T [--project P] [--format csv|json|focus]'
               writes the rated usage of a period (vigil must not be running on the data dir)
  version      print the version

flags of the server commands:
  --config FILE      YAML configuration file
  --data-dir DIR     data directory (data_dir)
  --listen H:P       API address (api.listen)
  --nats URL         external NATS (nats.url); the embedded server otherwise
  --index URL        index database (index.url): sqlite:///path.db or postgres://...
  --log-format F     text or json (log.format)
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "vigil", version())
		return nil
	case "config":
		if len(rest) != 1 || rest[0] != "default" {
			return errors.New("usage: vigil config default")
		}
		_, err := stdout.Write(config.DefaultYAML())
		return err
	case "billing":
		if len(rest) == 0 || rest[0] != "export" {
			return errors.New("usage: vigil billing export --from T --to T [--project P] [--format csv|json|focus] [server flags]")
		}
		return billingExport(rest[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	roles := map[string]app.Roles{
		"all":       app.All,
		"agent":     {Agent: true},
		"processor": {Processor: true},
		"api":       {API: true},
		"evaluator": {Evaluator: true},
		"migrate":   {},
	}
	r, ok := roles[cmd]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := loadConfig(cmd, rest)
	if err != nil {
		return err
	}
	log := cfg.Logger(stderr)
	tuneGC(cfg, os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "migrate" {
		idx, err := index.Open(ctx, cfg.IndexURL(), index.Options{NoMigrate: true})
		if err != nil {
			return err
		}
		defer idx.Close()
		if err := idx.Migrate(ctx); err != nil {
			return err
		}
		log.Info("index schema is up to date", "index", cfg.IndexURL())
		return nil
	}
	a, err := app.Start(ctx, cfg, r, log)
	if err != nil {
		return err
	}
	log.Info("vigil started", "command", cmd, "version", version(), "data_dir", cfg.DataDir)
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Stop(sctx)
}

func loadConfig(cmd string, args []string) (config.Config, error) {
	return loadConfigWith(cmd, args, nil)
}

// loadConfigWith parses the server flags, and those extra adds to fs.
func loadConfigWith(cmd string, args []string, extra func(fs *flag.FlagSet)) (config.Config, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	file := fs.String("config", "", "YAML configuration file")
	dataDir := fs.String("data-dir", "", "data directory")
	listen := fs.String("listen", "", "API listen address")
	natsURL := fs.String("nats", "", "external NATS URL")
	indexURL := fs.String("index", "", "index database URL")
	logFormat := fs.String("log-format", "", "text or json")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg, err := config.Load(*file, os.Environ())
	if err != nil {
		return cfg, err
	}
	// Flags win over the file and the environment.
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.API.Listen = *listen
	}
	if *natsURL != "" {
		cfg.NATS.URL = *natsURL
	}
	if *indexURL != "" {
		cfg.Index.URL = *indexURL
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	return cfg, cfg.Validate()
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// billingExport rates a period from the index and storage of the data
// directory and writes it to stdout.
func billingExport(args []string, stdout, stderr io.Writer) error {
	var from, to, project, format string
	cfg, err := loadConfigWith("billing export", args, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "start of the period (RFC 3339 or a date)")
		fs.StringVar(&to, "to", "", "end of the period, exclusive")
		fs.StringVar(&project, "project", "", "only this project")
		fs.StringVar(&format, "format", "csv", "csv, json or focus")
	})
	if err != nil {
		return err
	}
	if cfg.Billing.ConfigFile == "" {
		return errors.New("billing.config_file is not set: there is no rating configuration")
	}
	rating, err := billing.LoadConfig(cfg.Billing.ConfigFile)
	if err != nil {
		return err
	}
	start, err := billing.ParseTime(from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	end, err := billing.ParseTime(to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	ctx := context.Background()
	idx, err := index.Open(ctx, cfg.IndexURL(), index.Options{NoMigrate: true})
	if err != nil {
		return err
	}
	defer idx.Close()
	st, err := storage.OpenPebble(filepath.Join(cfg.DataDir, "series"), storage.PebbleOptions{Logger: cfg.Logger(stderr)})
	if err != nil {
		return fmt.Errorf("%w (while vigil runs on this data directory, use GET /v1/billing/export)", err)
	}
	defer st.Close()
	return billing.Export(ctx, billing.NewIndexSource(idx, query.NewReader(st)), rating, start, end, project, format, stdout)
}

// tuneGC applies gc_percent and memory_limit_mb, unless GOGC or GOMEMLIMIT
// in the environment already chose.
func tuneGC(cfg config.Config, getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if cfg.MemoryLimitMB > 0 && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMB) << 20)
	}
}

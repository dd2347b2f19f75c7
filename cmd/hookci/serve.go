package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "TOML config file (HOOKCI_* environment variables override it)")
	listen := fs.String("listen", "", "address to listen on (overrides HOOKCI_LISTEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "hookci serve:", err)
		return 2
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	level, err := cfg.SlogLevel()
	if err != nil {
		fmt.Fprintln(stderr, "hookci serve:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, endTrace, err := withTrace(ctx, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "hookci serve:", err)
		return 2
	}
	defer endTrace()
	if err := serve(ctx, cfg, log); err != nil {
		fmt.Fprintln(stderr, "hookci serve:", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx ends.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	return serveOn(ctx, cfg, log, l)
}

// serveOn runs the server on l until ctx ends.
func serveOn(ctx context.Context, cfg config.Config, log *slog.Logger, l net.Listener) error {
	defer l.Close()
	if err := cfg.ValidateServe(); err != nil {
		return err
	}
	log.Debug("configuration", "config", fmt.Sprintf("%+v", cfg.Redacted()))
	if err := web.CheckExposure(l.Addr().String(), webAuth(cfg, nil)); err != nil {
		return err
	}
	s, err := newServer(ctx, cfg, log, serverOptions{scheduler: true})
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.start(ctx); err != nil {
		return err
	}
	log.Info("hookci listening", "addr", l.Addr().String(), "sandbox", cfg.Sandbox, "data_dir", cfg.DataDir,
		"public_url", cfg.PublicURL)
	return s.serveHTTP(ctx, l)
}

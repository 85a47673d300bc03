package main

import (
	"context"
	"crypto/fips140"
	"fmt"
	"io"
	"sort"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/config"
	"github.com/connect-secure-input/processor/internal/metrics"
	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/service"
)

// serve loads the configuration, builds the service and runs it until ctx
// ends. Configuration errors are printed to stderr before any logger exists,
// one per line, each naming its variable.
func serve(ctx context.Context, getenv func(string) string, environ []string, stderr io.Writer) error {
	cfg, err := config.Load(getenv, environ)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w\nRun 'processor --help' for the list of variables", err)
	}
	m := metrics.New(version, fips140.Enabled())
	logger, err := redact.NewLogger(redact.Options{Level: cfg.LogLevel, Format: cfg.LogFormat, Output: stderr, Scrubs: m})
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	restore := redact.RedirectStdLog(logger)
	defer restore()

	summary := cfg.Summary(getenv)
	names := make([]string, 0, len(summary))
	for name := range summary {
		names = append(names, name)
	}
	sort.Strings(names)
	fields := make([]zap.Field, 0, len(names)+1)
	fields = append(fields, zap.String("version", version))
	for _, name := range names {
		fields = append(fields, zap.String(name, summary[name]))
	}
	logger.Info("configuration", fields...)

	svc, err := service.New(ctx, cfg, logger, m)
	if err != nil {
		logger.Error("start-up failed", zap.Error(err))
		return err
	}
	return svc.Run(ctx)
}

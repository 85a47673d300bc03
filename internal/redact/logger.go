package redact

import (
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Log formats accepted by Options.Format.
const (
	// FormatJSON writes one JSON object per line, for production, where the
	// log pipeline parses fields.
	FormatJSON = "json"
	// FormatConsole writes tab-separated text for a developer's terminal.
	FormatConsole = "console"
)

// Options configures NewLogger.
type Options struct {
	// Level is the minimum level written: debug, info, warn or error (also
	// dpanic, panic and fatal). Empty means info.
	Level string
	// Format is FormatJSON or FormatConsole. Empty means FormatJSON.
	Format string
	// Output receives the encoded entries and zap's own errors. Nil means
	// standard error. Writes are serialized, so Output need not be safe for
	// concurrent use.
	Output io.Writer
	// Scrubs counts every value the redaction core changes. Nil counts
	// nothing.
	Scrubs ScrubCounter
}

// NewLogger returns the service's logger, with the redaction core around the
// encoder core. Entries carry times in ISO 8601 (UTC with milliseconds in
// JSON) and their caller. Only entries at error level and above get a stack
// trace. It fails on an unknown level or format.
func NewLogger(opts Options) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if opts.Level != "" {
		parsed, err := zapcore.ParseLevel(opts.Level)
		if err != nil {
			return nil, fmt.Errorf("redact: invalid log level %q: use debug, info, warn or error", opts.Level)
		}
		level = parsed
	}

	var encoder zapcore.Encoder
	switch opts.Format {
	case FormatJSON, "":
		encoder = zapcore.NewJSONEncoder(jsonEncoderConfig())
	case FormatConsole:
		encoder = zapcore.NewConsoleEncoder(consoleEncoderConfig())
	default:
		return nil, fmt.Errorf("redact: invalid log format %q: use %q or %q", opts.Format, FormatJSON, FormatConsole)
	}

	output := opts.Output
	if output == nil {
		output = os.Stderr
	}
	sink := zapcore.Lock(zapcore.AddSync(output))

	inner := zapcore.NewCore(encoder, sink, level)
	return zap.New(
		newCore(inner, opts.Scrubs, sink),
		zap.AddCaller(),
		zap.AddStacktrace(zapcore.ErrorLevel),
		zap.ErrorOutput(sink),
	), nil
}

func jsonEncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        "time",
		LevelKey:       "level",
		NameKey:        "logger",
		CallerKey:      "caller",
		FunctionKey:    zapcore.OmitKey,
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     encodeTimeUTC,
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
	}
}

func consoleEncoderConfig() zapcore.EncoderConfig {
	cfg := zap.NewDevelopmentEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	return cfg
}

// encodeTimeUTC writes t in UTC as ISO 8601 with milliseconds, for example
// "2025-03-01T12:00:00.000Z", so lines from tasks in different zones sort
// as text.
func encodeTimeUTC(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// RedirectStdLog sends the output of the standard log package to logger at
// info level, through the redaction core, and returns a function that
// restores the previous output and flags. A logger without a redaction core
// gets one (without a counter).
func RedirectStdLog(logger *zap.Logger) (restore func()) {
	return zap.RedirectStdLog(ensureRedacted(logger))
}

// NewStdLogger returns a *log.Logger that writes each line to logger at
// level, through the redaction core, for APIs that take a standard logger
// such as http.Server.ErrorLog. A level outside debug to fatal falls back
// to error.
func NewStdLogger(logger *zap.Logger, level zapcore.Level) *log.Logger {
	logger = ensureRedacted(logger)
	std, err := zap.NewStdLogAt(logger, level)
	if err != nil {
		std, _ = zap.NewStdLogAt(logger, zapcore.ErrorLevel) // error level is always valid
	}
	return std
}

package redact

import (
	"os"

	"go.uber.org/zap/zapcore"
)

// WrapCore returns a core that scrubs every entry and field (see the package
// documentation) before passing them to inner, and reports each change to
// counter, which may be nil.
//
// Fields given to With are scrubbed and counted once, when they are added.
// Fields given to Write are scrubbed and counted on every write. The inner
// core gets plain zap fields: strings, numbers, and objects and arrays whose
// content was recorded and scrubbed up front, so an observer core in a test
// sees what the encoder would write.
func WrapCore(inner zapcore.Core, counter ScrubCounter) zapcore.Core {
	return newCore(inner, counter, zapcore.Lock(os.Stderr))
}

func newCore(inner zapcore.Core, counter ScrubCounter, errorOutput zapcore.WriteSyncer) *core {
	return &core{inner: inner, scrub: scrubber{counter: counter}, errorOutput: errorOutput}
}

// core is the redaction zapcore.Core.
type core struct {
	inner zapcore.Core
	scrub scrubber
	// errorOutput receives the errors of the inner core's writes, as a
	// zap.Logger's ErrorOutput does, because Write hands entries on through
	// a CheckedEntry that reports errors there instead of returning them.
	errorOutput zapcore.WriteSyncer
	// insideSensitive is true after With added a namespace under a sensitive
	// key, so every later field lands inside it and is dropped.
	insideSensitive bool
}

var _ zapcore.Core = (*core)(nil)

// Enabled reports whether the inner core logs entries at level.
func (c *core) Enabled(level zapcore.Level) bool { return c.inner.Enabled(level) }

// Level returns the inner core's minimum enabled level, so zap.Logger.Level
// and zapcore.LevelOf see through the wrapper.
func (c *core) Level() zapcore.Level { return zapcore.LevelOf(c.inner) }

// With scrubs fields once and adds them to a copy of the inner core.
func (c *core) With(fields []zapcore.Field) zapcore.Core {
	scrubbed, insideSensitive := c.scrub.fields(fields, c.insideSensitive)
	clone := *c
	clone.inner = c.inner.With(scrubbed)
	clone.insideSensitive = insideSensitive
	return &clone
}

// Check adds this core, never the inner one, to ce: an inner core that
// registered itself would receive the entry unscrubbed.
func (c *core) Check(entry zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(entry.Level) {
		return ce.AddCore(entry, c)
	}
	return ce
}

// Write scrubs the message, the stack trace and fields, and hands the entry
// to the inner core. It goes through the inner core's Check, so a sampler or
// a tee of cores at different levels inside still decides who writes.
func (c *core) Write(entry zapcore.Entry, fields []zapcore.Field) error {
	entry.Message = c.scrub.message(entry.Message)
	entry.Stack = c.scrub.message(entry.Stack)
	scrubbed, _ := c.scrub.fields(fields, c.insideSensitive)

	if ce := c.inner.Check(entry, nil); ce != nil {
		ce.ErrorOutput = c.errorOutput
		ce.Write(scrubbed...)
	}
	return nil
}

// Sync flushes the inner core.
func (c *core) Sync() error { return c.inner.Sync() }

package protolog

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestLoggerWithSameOutputAsWith: a logger from LoggerWith writes exactly what slog's own
// With would, also chained, with groups, Attr arguments and levels.
func TestLoggerWithSameOutputAsWith(t *testing.T) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, opts) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, opts) },
	} {
		var want, got bytes.Buffer
		base, lazy := slog.New(newHandler(&want)), slog.New(newHandler(&got))
		use := func(l *slog.Logger) {
			l.Info("one", "k", 1)
			l.Debug("not shown", "k", 2)
			l.WithGroup("g").Warn("two", "k", 3)
		}
		use(base.With("connector", "Default Frontend", "remote", "127.0.0.1:2525", slog.Int("n", 7)).With("session", "08D"))
		use(LoggerWith(LoggerWith(lazy, "connector", "Default Frontend", "remote", "127.0.0.1:2525", slog.Int("n", 7)), "session", "08D"))
		if want.String() != got.String() {
			t.Errorf("output differs:\n got %s\nwant %s", got.String(), want.String())
		}
		if got.Len() == 0 {
			t.Fatal("nothing logged")
		}
	}
}

// TestLoggerWithNoArgs: LoggerWith without arguments returns the logger itself.
func TestLoggerWithNoArgs(t *testing.T) {
	l := slog.New(slog.DiscardHandler)
	if LoggerWith(l) != l {
		t.Error("LoggerWith(l) is not l")
	}
}

func BenchmarkLoggerWith(b *testing.B) {
	l := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	b.Run("slog", func(b *testing.B) {
		for b.Loop() {
			l.With("connector", "Default Frontend MAIL", "remote", "127.0.0.1:40000", "session", "08DE1234ABCD0001")
		}
	})
	b.Run("LoggerWith", func(b *testing.B) {
		for b.Loop() {
			LoggerWith(l, "connector", "Default Frontend MAIL", "remote", "127.0.0.1:40000", "session", "08DE1234ABCD0001")
		}
	})
}

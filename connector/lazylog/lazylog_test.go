package lazylog

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestSameOutputAsWith: a logger from With writes exactly what slog's own
// With would, also chained, with groups, Attr arguments and levels.
func TestSameOutputAsWith(t *testing.T) {
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
		use(With(With(lazy, "connector", "Default Frontend", "remote", "127.0.0.1:2525", slog.Int("n", 7)), "session", "08D"))
		if want.String() != got.String() {
			t.Errorf("output differs:\n got %s\nwant %s", got.String(), want.String())
		}
		if got.Len() == 0 {
			t.Fatal("nothing logged")
		}
	}
}

// TestNoArgs: With without arguments returns the logger itself.
func TestNoArgs(t *testing.T) {
	l := slog.New(slog.DiscardHandler)
	if With(l) != l {
		t.Error("With(l) is not l")
	}
}

func BenchmarkWith(b *testing.B) {
	l := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	b.Run("slog", func(b *testing.B) {
		for b.Loop() {
			l.With("connector", "Default Frontend MAIL", "remote", "127.0.0.1:40000", "session", "08DE1234ABCD0001")
		}
	})
	b.Run("lazylog", func(b *testing.B) {
		for b.Loop() {
			With(l, "connector", "Default Frontend MAIL", "remote", "127.0.0.1:40000", "session", "08DE1234ABCD0001")
		}
	})
}

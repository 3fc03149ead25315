package protolog

// The daemon's own log of SMTP sessions and deliveries (log/slog), beside
// the protocol log files: LoggerWith gives a logger attributes without
// formatting them until a record is logged. slog.Logger.With has a text or
// JSON handler format its attributes at once, which costs every SMTP
// session and every delivery attempt a few microseconds for loggers that
// mostly log nothing; LoggerWith only remembers them.

import (
	"context"
	"log/slog"
)

// LoggerWith returns l with args (as slog.Logger.With takes them) added to
// every record it logs. The output is the same as l.With(args...): the
// handler's WithAttrs runs when a record is logged, not now.
func LoggerWith(l *slog.Logger, args ...any) *slog.Logger {
	if l == nil || len(args) == 0 {
		return l
	}
	attrs := attrsOf(args)
	h := l.Handler()
	if d, ok := h.(*deferred); ok {
		return slog.New(&deferred{h: d.h, attrs: append(d.attrs[:len(d.attrs):len(d.attrs)], attrs...)})
	}
	return slog.New(&deferred{h: h, attrs: attrs})
}

// attrsOf turns With's alternating keys and values into attributes, as
// slog does: an Attr as it is, a string key with the value after it, and
// anything else under the key "!BADKEY".
func attrsOf(args []any) []slog.Attr {
	var out []slog.Attr
	for len(args) > 0 {
		switch x := args[0].(type) {
		case slog.Attr:
			out, args = append(out, x), args[1:]
		case string:
			if len(args) == 1 {
				out, args = append(out, slog.String("!BADKEY", x)), nil
				continue
			}
			out, args = append(out, slog.Any(x, args[1])), args[2:]
		default:
			out, args = append(out, slog.Any("!BADKEY", x)), args[1:]
		}
	}
	return out
}

// deferred is a handler holding attributes not yet given to h.
type deferred struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (d *deferred) Enabled(ctx context.Context, level slog.Level) bool {
	return d.h.Enabled(ctx, level)
}

func (d *deferred) Handle(ctx context.Context, r slog.Record) error {
	return d.h.WithAttrs(d.attrs).Handle(ctx, r)
}

func (d *deferred) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &deferred{h: d.h, attrs: append(d.attrs[:len(d.attrs):len(d.attrs)], attrs...)}
}

func (d *deferred) WithGroup(name string) slog.Handler {
	return d.h.WithAttrs(d.attrs).WithGroup(name)
}

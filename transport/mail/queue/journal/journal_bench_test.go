package journal

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

var body4k = bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 64)

func benchEnv() message.Envelope {
	return message.Envelope{From: "app@contoso.com", Recipients: []message.Recipient{{Address: "ops@example.org"}}}
}

// BenchmarkJournalEnqueue measures one session storing 4 KB messages in
// the journal, each durable (fsync) before Enqueue returns.
func BenchmarkJournalEnqueue(b *testing.B) {
	j, err := Open(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.SetBytes(int64(len(body4k)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := j.Enqueue(context.Background(), benchEnv(), bytes.NewReader(body4k)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJournalEnqueueParallel measures 50 concurrent sessions sharing
// the journal's group commit (one fsync per batch).
func BenchmarkJournalEnqueueParallel(b *testing.B) {
	j, err := Open(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.SetBytes(int64(len(body4k)))
	b.SetParallelism(25) // 2 cores x 25 = 50 sessions
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := j.Enqueue(context.Background(), benchEnv(), bytes.NewReader(body4k)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

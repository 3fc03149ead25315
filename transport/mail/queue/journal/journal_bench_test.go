package journal

import (
	"bytes"
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

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
	defer reportCPU(b)()
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
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := j.Enqueue(context.Background(), benchEnv(), bytes.NewReader(body4k)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU reports the process's CPU time (user and system, the fsync
// included) per operation as "cpu-µs/op": on a shared machine it moves
// less than ns/op. Call it before the loop and defer what it returns.
func reportCPU(b *testing.B) func() {
	b.Helper()
	before := cpuTime()
	return func() {
		if n := b.N; n > 0 {
			b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(n), "cpu-µs/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

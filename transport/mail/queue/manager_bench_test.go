package queue

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// smartHostTarget stands in for one smart host: it reads the stored body
// as a real delivery does, waits latency (the round trips of a real
// transaction) and accepts every recipient.
type smartHostTarget struct {
	latency time.Duration
	done    chan struct{}
	n       atomic.Int64
	want    int64
}

func (s *smartHostTarget) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	rc, err := msg.Open()
	if err == nil {
		io.Copy(io.Discard, rc)
		rc.Close()
	}
	if s.latency > 0 {
		time.Sleep(s.latency) // simulated network round trips of a transaction
	}
	out := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = delivery.Result{Recipient: r}
	}
	if s.n.Add(1) == s.want {
		close(s.done)
	}
	return out
}

// BenchmarkManagerSmartHost measures the whole hot path on the journal:
// 50 sessions enqueue 4 KB messages that are delivered to one smart host
// with MaxConcurrencyPerQueue (20) deliveries at a time; an iteration is
// one message accepted and delivered.
func BenchmarkManagerSmartHost(b *testing.B) {
	for _, lat := range []time.Duration{0, 2 * time.Millisecond} {
		b.Run("latency="+lat.String(), func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			target := &smartHostTarget{latency: lat, done: make(chan struct{}), want: int64(b.N)}
			m, err := NewManager(Options{Store: j, Router: fakeRouter{target}, Settings: DefaultSettings(),
				Logger: slog.New(slog.DiscardHandler), InflightDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			b.SetBytes(int64(len(body4k)))
			b.SetParallelism(25) // 2 cores x 25 = 50 sessions
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Enqueue(context.Background(), benchEnv(), bytes.NewReader(body4k)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			select {
			case <-target.done:
			case <-time.After(time.Minute):
				b.Fatalf("delivered %d of %d", target.n.Load(), b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

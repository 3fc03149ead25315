package queue

import (
	"bytes"
	"context"
	"testing"
)

var body4k = bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 64)

func benchEnv() Envelope {
	return Envelope{From: "app@contoso.com", Recipients: []Recipient{{Address: "ops@example.org"}}}
}

// BenchmarkEnqueue measures one session storing 4 KB messages with full
// durability (file fsync, rename, folder fsync) before each returns.
func BenchmarkEnqueue(b *testing.B) {
	d, err := OpenDisk(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.SetBytes(int64(len(body4k)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Enqueue(context.Background(), benchEnv(), bytes.NewReader(body4k)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueParallel measures 50 concurrent sessions, where the
// group commit shares folder fsyncs between them.
func BenchmarkEnqueueParallel(b *testing.B) {
	d, err := OpenDisk(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.SetBytes(int64(len(body4k)))
	b.SetParallelism(25) // 2 cores x 25 = 50 sessions
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Enqueue(context.Background(), benchEnv(), bytes.NewReader(body4k)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

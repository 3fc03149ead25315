package queue

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

type deferAll struct{}

func (deferAll) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	out := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = delivery.Result{Recipient: r, Err: delivery.Temporary([3]int{4, 4, 1}, "smart host down")}
	}
	return out
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// queueMemoryPerMessage fills a queue whose smart host is down with n
// messages of 4 KB and returns the heap growth per queued message.
func queueMemoryPerMessage(t testing.TB, n int) float64 {
	dir := t.TempDir()
	store, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := DefaultSettings()
	m, err := NewManager(Options{Store: store, Router: fakeRouter{deferAll{}}, Settings: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	before := heapInUse()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				env := Envelope{From: "app@contoso.com", Recipients: []Recipient{{Address: "ops@example.org"}}}
				if _, err := m.Enqueue(context.Background(), env, bytes.NewReader(body4k)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if m.Len() != n {
		t.Fatalf("queue holds %d messages, want %d", m.Len(), n)
	}
	after := heapInUse()
	return float64(int64(after)-int64(before)) / float64(n)
}

// Bodies stay on disk: a queued 4 KB message costs far less than 4 KB of
// memory, so memory stays flat as the queue grows.
func TestQueueMemoryDoesNotHoldBodies(t *testing.T) {
	per := queueMemoryPerMessage(t, 3000)
	t.Logf("heap per queued message: %.0f bytes", per)
	if per > 2048 {
		t.Fatalf("each queued message costs %.0f bytes of heap; bodies must stay on disk", per)
	}
}

// TestQueueMemory100k is the full check from the issue (100,000 queued
// messages); it takes a minute, so it runs when TRANSPORTD_SOAK=1.
func TestQueueMemory100k(t *testing.T) {
	if v, _ := strconv.ParseBool(os.Getenv("TRANSPORTD_SOAK")); !v {
		t.Skip("set TRANSPORTD_SOAK=1 to queue 100,000 messages")
	}
	per := queueMemoryPerMessage(t, 100000)
	t.Logf("heap per queued message with 100,000 queued: %.0f bytes (%.1f MB in all)", per, per*100000/1e6)
	if per > 2048 {
		t.Fatalf("each queued message costs %.0f bytes of heap", per)
	}
}

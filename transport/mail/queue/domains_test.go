package queue

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// domainRouter gives every recipient domain its own delivery queue, as
// DNS routing does.
type domainRouter struct{ t delivery.Target }

func (r domainRouter) Route(rcpt string, size int64) Route {
	return Route{Queue: rcpt[strings.LastIndexByte(rcpt, '@')+1:], DeliveryType: "DnsConnectorDelivery", Target: r.t}
}

// countingTarget accepts everything and records how many deliveries ran at
// once and how many goroutines the process had at the busiest moment.
type countingTarget struct {
	running, peak, peakG atomic.Int64
	delivered            atomic.Int64
}

func (c *countingTarget) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	n := c.running.Add(1)
	defer c.running.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	if g := int64(runtime.NumGoroutine()); g > c.peakG.Load() {
		c.peakG.Store(g) // racy maximum, good enough for a bound
	}
	out := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = delivery.Result{Recipient: r}
	}
	c.delivered.Add(int64(len(rcpts)))
	return out
}

// Mail to 10,000 distinct domains: one bounded pool of delivery
// goroutines serves every queue, and once the mail is delivered and the
// idle queues are reaped, goroutines and heap are back near where they
// started (issue 8 item 10: one queue with 20 workers per domain, never
// retired, meant 200,000 idle goroutines).
func TestTenThousandDomainsReturnToBaseline(t *testing.T) {
	const domains = 10000
	j, err := journal.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	target := &countingTarget{}
	s := DefaultSettings()
	m, err := NewManager(Options{Store: j, Router: domainRouter{target}, Settings: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	baseG := runtime.NumGoroutine()
	baseHeap := heapInUse()

	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				env := Envelope{From: "app@contoso.com", Recipients: []Recipient{{Address: "ops@d" + strconv.Itoa(i) + ".example"}}}
				if _, err := m.Enqueue(context.Background(), env, bytes.NewReader(body4k)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < domains; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	waitEmpty(t, m)
	if got := target.delivered.Load(); got != domains {
		t.Fatalf("delivered %d of %d", got, domains)
	}
	m.reapIdle(m.now().Add(time.Hour))
	if n := len(m.Queues()); n != 0 {
		t.Fatalf("%d delivery queues left after reaping", n)
	}
	// The last delivery goroutines exit just after the last message is
	// finished; poll the count (there is no other signal to wait for).
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseG+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	g := runtime.NumGoroutine()
	heapAfter := heapInUse()
	growth := int64(heapAfter) - int64(baseHeap)
	t.Logf("goroutines: %d before, peak %d during, %d after; deliveries at once: peak %d; heap growth after drain: %d KB",
		baseG, target.peakG.Load(), g, target.peak.Load(), growth/1024)
	if g > baseG+2 {
		t.Fatalf("%d goroutines after the drain, %d before", g, baseG)
	}
	if p := target.peak.Load(); p > int64(defaultMaxConcurrentDeliveries) {
		t.Fatalf("%d deliveries at once, more than the pool's %d", p, defaultMaxConcurrentDeliveries)
	}
	if growth > 2<<20 {
		t.Fatalf("heap grew by %d KB after 10,000 domains were delivered and reaped", growth/1024)
	}
}

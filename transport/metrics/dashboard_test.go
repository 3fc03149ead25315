package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/queue"
)

func TestSamplerKeepsADayAndCountsRefusals(t *testing.T) {
	m := New()
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	s := NewSampler(m, time.Minute, 10*time.Minute, func() time.Time { return now })
	if len(s.ring) != 11 {
		t.Fatalf("ring of %d samples for 10 minutes at one a minute", len(s.ring))
	}
	for i := range 15 { // more than the ring holds: the oldest go
		m.Refused("Default Frontend MAIL", "550 5.7.54")
		m.QueueEvent(context.Background(), queue.Event{Kind: queue.EventEnqueued})
		s.Take()
		if i < 14 {
			now = now.Add(time.Minute)
		}
	}
	before, since := s.Since(now.Add(-5 * time.Minute))
	if len(since) != 6 || !since[0].Time.Equal(now.Add(-5*time.Minute)) || !since[5].Time.Equal(now) {
		t.Fatalf("since: %d samples, first %v, last %v", len(since), since[0].Time, since[len(since)-1].Time)
	}
	if !before.Time.Equal(now.Add(-6 * time.Minute)) {
		t.Errorf("the sample before: %v", before.Time)
	}
	if got := since[5].Refusals["550 5.7.54"] - before.Refusals["550 5.7.54"]; got != 6 {
		t.Errorf("refusals in the last 5 minutes and this one: %v, want 6", got)
	}
	if got := since[5].Received; got != 15 {
		t.Errorf("received: %v", got)
	}
	before, since = s.Since(now.Add(-time.Hour))
	if !before.Time.IsZero() || len(since) != 11 || !since[0].Time.Equal(now.Add(-10*time.Minute)) {
		t.Errorf("an hour back: before %v, %d samples from %v", before.Time, len(since), since[0].Time)
	}
}

func TestSamplerRunStopsWithItsContext(t *testing.T) {
	s := NewSampler(New(), time.Hour, 24*time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	cancel()
	<-done
	if _, since := s.Since(time.Time{}); len(since) != 1 {
		t.Fatalf("Run took %d samples before it stopped, want the first one", len(since))
	}
}

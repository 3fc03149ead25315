package web

import (
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/metrics"
)

// fakeStats is a sampler's history: the samples given and a current one.
type fakeStats struct {
	samples []metrics.Sample
	cur     metrics.Sample
}

func (f fakeStats) Current() metrics.Sample { return f.cur }

func (f fakeStats) Since(t time.Time) (metrics.Sample, []metrics.Sample) {
	var before metrics.Sample
	var since []metrics.Sample
	for _, s := range f.samples {
		if s.Time.Before(t) {
			before = s
		} else {
			since = append(since, s)
		}
	}
	return before, since
}

// TestWindowCountsFromTheSampleBeforeIt: the last hour's totals are the
// counters now minus those of the newest sample before the hour, the
// minute bins hold what came in during each minute, and a daemon younger
// than the window counts from zero.
func TestWindowCountsFromTheSampleBeforeIt(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 30, 0, time.UTC)
	smp := func(ago time.Duration, received, relayed, tls float64, refused float64) metrics.Sample {
		return metrics.Sample{Time: now.Add(-ago), Received: received, Relayed: relayed, Connections: received,
			TLS: map[string]float64{"TLS 1.3": tls}, Refusals: map[string]float64{"550 5.7.54": refused}}
	}
	st := fakeStats{
		samples: []metrics.Sample{smp(90*time.Minute, 100, 90, 10, 1), smp(61*time.Minute, 110, 100, 20, 2), smp(30*time.Minute, 150, 140, 30, 5), smp(90*time.Second, 160, 150, 35, 5)},
		cur:     smp(0, 170, 155, 40, 9),
	}
	w := windowOf(st, st.cur, now, "Last hour", time.Hour, time.Minute, "per minute")
	if w.In != "60" || w.Out != "55" || w.TLS != "20" || w.TLSShare != "33%" {
		t.Errorf("last hour: in %s out %s tls %s share %s, want 60 55 20 33%%", w.In, w.Out, w.TLS, w.TLSShare)
	}
	if len(w.Refusals) != 1 || w.Refusals[0].Count != "7" || !strings.Contains(w.Refusals[0].What, "relay") {
		t.Errorf("refusals: %+v", w.Refusals)
	}
	if !strings.Contains(string(w.Traffic), `aria-label="Messages in and out, last hour (per minute): in 60, out 55"`) {
		t.Errorf("the chart's description: %s", w.Traffic)
	}
	// A daemon started 10 minutes ago: its counters started at zero.
	young := fakeStats{samples: []metrics.Sample{smp(10*time.Minute, 0, 0, 0, 0)}, cur: smp(0, 5, 4, 1, 0)}
	if w := windowOf(young, young.cur, now, "Last 24 hours", 24*time.Hour, time.Hour, "per hour"); w.In != "5" || w.Out != "4" || w.TLSShare != "20%" {
		t.Errorf("a young daemon's day: in %s out %s share %s", w.In, w.Out, w.TLSShare)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 1: 1, 3: 5, 7: 10, 12: 20, 45: 50, 51: 100, 999: 1000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

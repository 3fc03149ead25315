package queue

import (
	"testing"
	"time"
)

// A next hop that keeps refusing connections is retried every
// TransientFailureRetryInterval for TransientFailureRetryAttempts, then
// every OutboundConnectionFailureRetryInterval (Set-TransportService).
func TestConnectionRetryWait(t *testing.T) {
	cfg := Settings{TransientFailureRetryInterval: time.Minute, TransientFailureRetryAttempts: 2,
		MessageRetryInterval: 15 * time.Minute, OutboundConnectionFailureRetryInterval: 10 * time.Minute}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: time.Minute, 3: 10 * time.Minute, 9: 10 * time.Minute} {
		if got := connectionRetryWait(cfg, n); got != want {
			t.Errorf("after %d failures: %v, want %v", n, got, want)
		}
	}
	cfg.OutboundConnectionFailureRetryInterval = 0
	if got := connectionRetryWait(cfg, 3); got != 15*time.Minute {
		t.Errorf("unset: %v, want MessageRetryInterval", got)
	}
}

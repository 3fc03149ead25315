package service

import (
	"context"
	"sync"

	"github.com/transportd/transportd/connector/smtpd"
	"github.com/transportd/transportd/transport/metrics"
)

// The admin center's dashboard (issue 15): the metrics sampled once a
// minute for a day, in memory.

// startSampler creates the sampler of the dashboard and runs it until ctx
// is done, in a goroutine wg waits for.
func (s *Service) startSampler(ctx context.Context, wg *sync.WaitGroup) {
	s.sampler = metrics.NewSampler(s.metrics, metrics.DefaultSampleInterval, metrics.DefaultSampleKeep, nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sampler.Run(ctx)
	}()
}

// The metrics count the refusals of the receive connectors.
var _ smtpd.RefusalObserver = (*metrics.Metrics)(nil)

package registry

import (
	"fmt"

	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// withServer puts the member that holds a queue or message after its
// Identity (issue 14: on a cluster member, Get-Queue and Get-Message show
// every member's); a single server's records are left as they were.
func withServer(rec manage.Record, server string) manage.Record {
	if server == "" {
		return rec
	}
	out := make(manage.Record, 0, len(rec)+1)
	out = append(out, rec[0], manage.Property{Name: "Server", Value: server})
	return append(out, rec[1:]...)
}

// clusterTracking asks the running daemon of a cluster member for the
// events of every member (or of -Server's), merged by time; a member that
// does not answer is named in a warning.
func clusterTracking(env *Env, f tracking.Filter, server string) ([]control.TrackingEvent, error) {
	var res control.TrackingResult
	if err := env.callDaemon(control.OpTrackingSearch, control.TrackingQuery{Filter: f, Server: server}, &res); err != nil {
		return nil, fmt.Errorf("searching the cluster's message tracking logs (through the running daemon): %w", err)
	}
	for _, m := range res.Silent {
		env.say("WARNING: %s does not answer: its message tracking events are missing; start it, or check the routes with transportd cluster status.", m)
	}
	return res.Events, nil
}

// withTrackingServer adds the member that logged an event, in a cluster.
func withTrackingServer(rec manage.Record, server string) manage.Record {
	if server == "" {
		return rec
	}
	return append(rec, manage.Property{Name: "Server", Value: server})
}

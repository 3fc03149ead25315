package control

import "github.com/transportd/transportd/transport/mail/tracking"

// Issue 14: message tracking across the members of a cluster. The daemon
// answers OpTrackingSearch with a TrackingResult: on a cluster member, every
// member's events (or those of TrackingQuery.Server), merged by time.
const OpTrackingSearch = "trackinglog.search"

// TrackingQuery is what OpTrackingSearch takes.
type TrackingQuery struct {
	Filter tracking.Filter `json:"filter"`
	// Server names one member; empty means every member.
	Server string `json:"server,omitempty"`
}

// TrackingEvent is one message tracking event and the member that logged it.
type TrackingEvent struct {
	Server string         `json:"server"`
	Event  tracking.Event `json:"event"`
}

// TrackingResult is OpTrackingSearch's answer.
type TrackingResult struct {
	Events []TrackingEvent `json:"events"`
	// Silent names the members that did not answer: their events are missing.
	Silent []string `json:"silent,omitempty"`
}

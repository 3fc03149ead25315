package jsstore

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// A compare-and-set conflict is one on an R1 stream (10071) and on a
// replicated one (10164, what R3 streams answer): taking the second for
// a hard error made a migration rerun on R3 fail instead of reading the
// record again (CI, TestMigrateSurvivesSIGKILL).
func TestWrongLastSequenceOnEveryReplicaCount(t *testing.T) {
	for _, code := range []jetstream.ErrorCode{jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant} {
		err := fmt.Errorf("publishing: %w", &jetstream.APIError{Code: 400, ErrorCode: code, Description: "wrong last sequence"})
		if !isWrongLast(err) {
			t.Errorf("error code %d is not taken for a compare-and-set conflict", code)
		}
	}
	if isWrongLast(&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}) {
		t.Error("an unavailable JetStream taken for a conflict")
	}
}

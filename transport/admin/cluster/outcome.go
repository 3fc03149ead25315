package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

// What became of a configuration change made on this member (issue 14:
// two members changing the configuration at the same moment).
const (
	// OutcomePublished: the change is the cluster's.
	OutcomePublished = "Published"
	// OutcomeMerged: another member's change got in first; this one
	// touched other objects and is merged on top of it.
	OutcomeMerged = "Merged"
	// OutcomeLost: another member changed the same object at the same
	// moment and got in first; this member's change was undone.
	OutcomeLost = "Lost"
	// OutcomePending: the change is saved and in force on this member,
	// but not in the cluster yet (Message says why and when it will be).
	OutcomePending = "Pending"
)

// Outcome is what became of one local change, named by the hash of the
// organization's document it made (config.OrgDoc.Hash).
type Outcome struct {
	Local    string    `json:"local"`
	Result   string    `json:"result"`
	Revision uint64    `json:"revision"`
	Origin   string    `json:"origin,omitempty"`  // the member whose change won
	Objects  []string  `json:"objects,omitempty"` // what both changed
	Message  string    `json:"message,omitempty"` // why a change is Pending
	Time     time.Time `json:"time"`
}

// Err is the error the command that made a lost change reports.
func (o Outcome) Err() error {
	if o.Result != OutcomeLost {
		return nil
	}
	return fmt.Errorf("the organization's configuration was changed on %s at the same time (%s); this change was undone and the configuration is the cluster's: run the command again",
		o.Origin, strings.Join(o.Objects, ", "))
}

// outcomeFile keeps the last outcomes in the cluster folder, where the
// management commands of the same member read them (WaitOutcome).
const outcomeFile = "config-outcomes.json"

const keptOutcomes = 32

func (cs *ConfigSync) recordLocked(o Outcome) {
	o.Time = time.Now().UTC()
	cs.outcomes = append(cs.outcomes, o)
	if len(cs.outcomes) > keptOutcomes {
		cs.outcomes = cs.outcomes[len(cs.outcomes)-keptOutcomes:]
	}
	data, _ := json.Marshal(cs.outcomes)
	if err := durable.WriteFile(filepath.Join(cs.node.opts.Dir, outcomeFile), data, 0o600); err != nil {
		cs.log.Warn("could not record what became of a configuration change; the command that made it cannot tell", "err", err)
	}
}

// SyncRunning tells whether a daemon synchronising the configuration
// has run on the member whose cluster folder is dir (a daemon that has
// not restarted since the member joined has not: it records no outcome).
func SyncRunning(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, outcomeFile))
	return err == nil
}

// ErrNoOutcome is returned by WaitOutcome when the daemon said nothing
// about the change before ctx ended.
var ErrNoOutcome = errors.New("the running transportd has not confirmed that the cluster has this change yet")

// WaitOutcome waits until the daemon whose cluster folder is dir records
// what became of the local change whose document hash is local, made at
// since (an older outcome of the same document does not count). It reads
// the outcome file every 100 ms: the daemon is another process.
func WaitOutcome(ctx context.Context, dir, local string, since time.Time) (Outcome, error) {
	for {
		var outs []Outcome
		if data, err := os.ReadFile(filepath.Join(dir, outcomeFile)); err == nil {
			json.Unmarshal(data, &outs)
		}
		for i := len(outs) - 1; i >= 0; i-- {
			if outs[i].Local == local && !outs[i].Time.Before(since.Add(-time.Second)) {
				return outs[i], nil
			}
		}
		select {
		case <-ctx.Done():
			return Outcome{}, ErrNoOutcome
		case <-time.After(100 * time.Millisecond):
		}
	}
}

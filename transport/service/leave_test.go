package service

import (
	"testing"

	"github.com/transportd/transportd/transport/mail/queue/jsstore"
)

// cluster leave waits for a member's shared queue that is still opening:
// whenOpen is closed by endSwitch, not before.
func TestLateStoreWhenOpen(t *testing.T) {
	l := newLateStore(nil, t.TempDir())
	select {
	case <-l.whenOpen():
		t.Fatal("whenOpen is closed before the shared queue is open")
	default:
	}
	l.endSwitch(&jsstore.Store{})
	select {
	case <-l.whenOpen():
	default:
		t.Fatal("whenOpen is not closed once the shared queue is open")
	}
	if l.st.Load() == nil {
		t.Fatal("endSwitch did not store the shared queue")
	}
}

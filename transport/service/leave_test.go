package service

import (
	"testing"

	"github.com/transportd/transportd/transport/mail/queue/jsstore"
)

// cluster leave waits for a member's shared queue that is still opening:
// whenOpen is closed by set, not before.
func TestLateStoreWhenOpen(t *testing.T) {
	var l lateStore
	select {
	case <-l.whenOpen():
		t.Fatal("whenOpen is closed before the shared queue is open")
	default:
	}
	l.set(&jsstore.Store{})
	select {
	case <-l.whenOpen():
	default:
		t.Fatal("whenOpen is not closed once the shared queue is open")
	}
	if l.st.Load() == nil {
		t.Fatal("set did not store the shared queue")
	}
}

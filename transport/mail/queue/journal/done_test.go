package journal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

// TestDoneRecordsRideAlong: a DONE record that no other record follows is
// written on its own within doneDelay; one that a message follows goes out
// with it; both removals are in the journal when it is opened again.
func TestDoneRecordsRideAlong(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir, Options{})
	ids := enqueueN(t, j, 2)
	// The records' size, not the file's: the active segment is zeroed
	// ahead of its records (prealloc.go).
	size := j.activeSize
	before := size()
	if err := j.Remove(ids[0]); err != nil {
		t.Fatal(err)
	}
	// Nothing else comes: the DONE record is written after doneDelay.
	deadline := time.Now().Add(10 * time.Second)
	for size() == before {
		if time.Now().After(deadline) {
			t.Fatal("DONE record never written without other traffic")
		}
		time.Sleep(doneDelay / 5)
	}
	if got := size() - before; got != recHdrSize+donePayload {
		t.Fatalf("segment grew by %d bytes, want one DONE record (%d)", got, recHdrSize+donePayload)
	}
	// Messages keep coming: the DONE record goes out with the next one.
	if err := j.Remove(ids[1]); err != nil {
		t.Fatal(err)
	}
	mid := size()
	env := message.Envelope{From: "a@example.net", Recipients: []message.Recipient{{Address: "r@contoso.com"}}}
	if _, err := j.Enqueue(context.Background(), env, strings.NewReader(testBody(9))); err != nil {
		t.Fatal(err)
	}
	after := size()
	if after-mid <= recHdrSize+donePayload {
		t.Fatalf("segment grew by %d bytes after an enqueue: no message record?", after-mid)
	}
	j.Close()
	j2 := openTestJournal(t, dir, Options{})
	if n := len(j2.index); n != 1 {
		t.Fatalf("%d messages after reopening, want 1 (both removals recorded)", n)
	}
}

// TestNewIDFormat: the id is the millisecond time (13 hex digits), a
// sequence number (4) and 4 random bytes (8), upper case, as
// fmt.Sprintf("%013X%04X%08X") writes them.
func TestNewIDFormat(t *testing.T) {
	j := openTestJournal(t, t.TempDir(), Options{})
	before := time.Now().UnixMilli()
	id := j.NewID()
	after := time.Now().UnixMilli()
	if len(id) != 25 || strings.ToUpper(id) != id || !validID(id) {
		t.Fatalf("id %q", id)
	}
	var ms, seq, rnd uint64
	if _, err := fmt.Sscanf(id, "%13X%4X%8X", &ms, &seq, &rnd); err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	if int64(ms) < before || int64(ms) > after {
		t.Fatalf("id %q: time %d not within %d..%d", id, ms, before, after)
	}
	if want := fmt.Sprintf("%013X%04X%08X", ms, seq, rnd); want != id {
		t.Fatalf("id %q, want %q", id, want)
	}
	if next := j.NewID(); next[13:17] != fmt.Sprintf("%04X", (seq+1)&0xFFFF) {
		t.Fatalf("next id %q after %q: sequence not counted", next, id)
	}
}

package jsstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/queue/jsstore/jstest"
)

// slow delivers through rec after a pause, so that deliveries are under
// way when the member leaves.
type slow struct {
	rec *recorder
	d   time.Duration
}

func (s slow) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	time.Sleep(s.d) // an SMTP session that takes its time
	return s.rec.Deliver(ctx, msg, rcpts)
}

// TestLeaveHandsOver has MAIL3 leave while it holds queued messages, some
// of them being delivered: it waits for those deliveries, hands the rest
// to MAIL1 and MAIL2, which deliver them; every message is delivered
// exactly once and MAIL3 holds nothing afterwards.
func TestLeaveHandsOver(t *testing.T) {
	c := jstest.Start(t, 3)
	rec := &recorder{got: map[string]int{}}
	members := []*member{
		startMember(t, c, 0, "MAIL1", rec),
		startMember(t, c, 1, "MAIL2", rec),
		startMember(t, c, 2, "MAIL3", slow{rec, 300 * time.Millisecond}),
	}
	const n = 150
	for k := range n {
		env := queue.Envelope{From: "app@contoso.com", Recipients: []queue.Recipient{{Address: fmt.Sprintf("user%d@fabrikam.com", k)}}, HeaderRead: true}
		body := fmt.Sprintf("X-Test-Seq: %d\r\nSubject: test\r\n\r\nhello\r\n", k)
		if _, err := members[2].m.Enqueue(context.Background(), env, strings.NewReader(body)); err != nil {
			t.Fatalf("message %d refused: %v", k, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	handed, err := members[2].store.Leave(ctx, members[2].m.WaitDeliveries)
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	before := len(rec.got)
	rec.mu.Unlock()
	t.Logf("MAIL3 delivered %d before leaving and handed %d over", before, handed)
	if handed == 0 || before == 0 {
		t.Fatalf("MAIL3 delivered %d and handed %d over: the leave did not happen mid-delivery", before, handed)
	}
	if members[2].m.Len() != 0 {
		t.Errorf("MAIL3 still holds %d messages after leaving", members[2].m.Len())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec.mu.Lock()
		delivered := len(rec.got)
		rec.mu.Unlock()
		if delivered == n && members[0].m.Len() == 0 && members[1].m.Len() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered after MAIL3 left (MAIL1 holds %d, MAIL2 %d)", delivered, n, members[0].m.Len(), members[1].m.Len())
		}
		time.Sleep(50 * time.Millisecond) // polling the recorder
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for k, times := range rec.got {
		if times != 1 {
			t.Errorf("message %q delivered %d times", k, times)
		}
	}
}

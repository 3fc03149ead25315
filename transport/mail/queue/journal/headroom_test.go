package journal

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

// A record is built in front of its body when the envelope fits the
// headroom, and copied when it does not: both read back, also after a
// restart.
func TestJournalEnvelopeLargerThanHeadroom(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir, Options{})
	var many []message.Recipient
	for i := range 200 {
		many = append(many, message.Recipient{Address: fmt.Sprintf("recipient%03d@contoso.com", i)})
	}
	envs := []message.Envelope{
		{From: "a@example.net", Recipients: many[:1]},
		{From: "a@example.net", Recipients: many},
	}
	var ids []string
	for i, env := range envs {
		id, err := j.Enqueue(context.Background(), env, strings.NewReader(testBody(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	j.mu.Lock()
	bodyRel := j.index[ids[1]].bodyRel
	j.mu.Unlock()
	if bodyRel <= headroom {
		t.Fatalf("envelope of %d recipients fits the headroom (%d bytes): the copying path is not tested", len(many), bodyRel)
	}
	check := func(j *Journal) {
		t.Helper()
		got, err := j.Load()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("loaded %d messages", len(got))
		}
		for _, m := range got {
			i := 0
			if m.Envelope.ID == ids[1] {
				i = 1
			}
			if len(m.Envelope.Recipients) != len(envs[i].Recipients) || m.Envelope.Size != int64(len(testBody(i))) {
				t.Fatalf("envelope %d: %d recipients, size %d", i, len(m.Envelope.Recipients), m.Envelope.Size)
			}
			if b := readBody(t, j, m.Envelope.ID); b != testBody(i) {
				t.Fatalf("body %d: %q", i, b)
			}
		}
	}
	check(j)
	j.Close()
	check(openTestJournal(t, dir, Options{}))
}

package smtpout

import (
	"context"
	"testing"
)

// A message received with SMTPUTF8 (its header may hold UTF-8 even when
// the addresses are ASCII) goes only to a next hop that offers SMTPUTF8,
// with the parameter; to one that does not, it fails with 5.6.7 (RFC 6531
// section 3.7.5) rather than arrive mangled.
func TestSMTPUTF8MessageNeedsPeerSupport(t *testing.T) {
	for _, offers := range []bool{true, false} {
		ts := startServer(t, serverOpts{noUTF8: !offers})
		s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
		m := message("Subject: Grüße\r\n\r\nhello\r\n")
		m.SMTPUTF8 = true
		res := s.Deliver(context.Background(), m, []string{"bob@example.test"})
		msgs, _, _ := ts.snapshot()
		if offers {
			wantResult(t, res[0], 0, "", "")
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages", len(msgs))
			}
			continue
		}
		wantResult(t, res[0], 550, "5.6.7", "SMTPUTF8")
		if len(msgs) != 0 {
			t.Fatalf("a server without SMTPUTF8 got the message: %+v", msgs)
		}
	}
}

package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// A notification is never answered with another (RFC 3464 section 1, RFC
// 3834 section 2), even when a field before its Auto-Submitted has a name
// net/textproto refuses but RFC 5322 section 3.6.8 allows ("X-Tag(1)"):
// the queue reads the header with package header, as Send As does with
// go-message, so the whole header is seen.
func TestNoDSNForANotificationWithAnOddFieldName(t *testing.T) {
	d := startDaemon(t, nil)
	d.sink.fail = func(rcpt string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	d.submit(t, []string{"nobody@example.org"}, "X-Tag(1): a\r\nAuto-Submitted: auto-replied\r\nSubject: out of office\r\n\r\nI am away\r\n")
	// The DSN, if any, is queued before the failed message leaves the
	// queue; the queue has no signal for that, so poll it.
	deadline := time.Now().Add(15 * time.Second)
	for d.svc.Queue().Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the failed message never left the queue")
		}
		time.Sleep(20 * time.Millisecond) // polling the queue
	}
	box := filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new")
	if entries, _ := os.ReadDir(box); len(entries) > 0 {
		data, _ := os.ReadFile(filepath.Join(box, entries[0].Name()))
		t.Fatalf("a DSN answered an automatic reply:\n%s", data)
	}
}

// The pickup directory removes Bcc: and leaves every other byte of the
// header as it was dropped: odd spacing and folding survive to the next hop.
func TestPickupKeepsHeaderBytes(t *testing.T) {
	d := startDaemon(t, nil)
	kept := "From: monitor@contoso.com\r\nTo:  ops@example.org\r\nSubject:\tdisk\r\n  full\r\nX-Odd :  spacing\r\n" +
		"Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <disk-1@contoso.com>\r\n\r\nserver01 disk C: 99%\r\n"
	dropped := strings.Replace(kept, "Subject:", "Bcc: audit@example.org,\r\n\tlegal@example.org\r\nSubject:", 1)
	pk := filepath.Join(d.svc.Config().DataDir(), "pickup")
	if err := os.WriteFile(filepath.Join(pk, ".odd.tmp"), []byte(dropped), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(pk, ".odd.tmp"), filepath.Join(pk, "odd.eml")); err != nil {
		t.Fatal(err)
	}
	got := waitSink(t, d.sink)
	if len(got.to) != 3 {
		t.Errorf("recipients at the smart host: %q, want ops, audit and legal", got.to)
	}
	if !strings.HasSuffix(got.data, kept) || strings.Contains(got.data, "audit@") {
		t.Fatalf("relayed message, want it to end with\n%q\ngot\n%q", kept, got.data)
	}
}

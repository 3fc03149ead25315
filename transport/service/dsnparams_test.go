package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// RFC 3461: MAIL's RET and ENVID come back in the DSN. RET=FULL returns
// the whole message (message/rfc822), RET=HDRS and no RET only its header
// (text/rfc822-headers); ENVID is the Original-Envelope-Id.
func TestDSNHonoursRETAndENVID(t *testing.T) {
	d := startDaemon(t, nil)
	d.sink.fail = func(rcpt string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	box := filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new")
	for _, tc := range []struct {
		params, mark string
		full         bool
	}{
		{" RET=FULL ENVID=QQ314159", "mark-full-body", true},
		{" RET=HDRS", "mark-hdrs-body", false},
	} {
		c := dial(t, d.addr587())
		c.expect("250", "EHLO client.example")
		c.startTLS("mail.contoso.com")
		c.expect("250", "EHLO client.example")
		c.expect("235", "AUTH PLAIN %s", "AGFsaWNlAFMzY3JldC1wYXNzIQ==")
		c.expect("250", "MAIL FROM:<alice@contoso.com>%s", tc.params)
		c.expect("250", "RCPT TO:<nobody@example.org>")
		c.expect("354", "DATA")
		c.expect("250", "Subject: %s\r\n\r\n%s\r\n.", tc.mark, tc.mark)
		c.close()

		var dsn string
		deadline := time.Now().Add(20 * time.Second)
		for dsn == "" && time.Now().Before(deadline) {
			entries, _ := os.ReadDir(box)
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(box, e.Name()))
				if strings.Contains(string(b), "Subject: "+tc.mark) && strings.Contains(string(b), "multipart/report") {
					dsn = string(b)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if dsn == "" {
			t.Fatalf("%s: no DSN", tc.params)
		}
		if tc.full {
			if !strings.Contains(dsn, "Original-Envelope-Id: QQ314159") || !strings.Contains(dsn, "message/rfc822") ||
				strings.Count(dsn, tc.mark) < 2 {
				t.Errorf("RET=FULL ENVID: DSN:\n%s", dsn)
			}
		} else if !strings.Contains(dsn, "text/rfc822-headers") || strings.Contains(dsn, "Original-Envelope-Id") ||
			strings.Contains(strings.SplitN(dsn, "text/rfc822-headers", 2)[1], "\n"+tc.mark) {
			t.Errorf("RET=HDRS: DSN:\n%s", dsn)
		}
	}
}

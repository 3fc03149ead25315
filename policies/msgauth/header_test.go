package msgauth

import (
	"bytes"
	"strings"
	"testing"
)

func TestStripOwnResults(t *testing.T) {
	msg := "Received: from x\r\n\tby mail.contoso.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Authentication-Results: mail.contoso.com; dkim=pass header.d=bank.test\r\n" +
		"Authentication-Results: MAIL.CONTOSO.COM.;\r\n\tspf=pass smtp.mailfrom=bank.test\r\n" +
		"Authentication-Results: mx.other.example; spf=pass smtp.mailfrom=x.test\r\n" +
		"Authentication-Results: mail.contoso.com (garbage\r\n" +
		"Subject: Authentication-Results: mail.contoso.com\r\n" +
		"\r\n" +
		"Authentication-Results: mail.contoso.com; in the body stays\r\n"
	out, n := StripOwnResults([]byte(msg), "mail.contoso.com")
	got := string(out)
	if n != 3 {
		t.Fatalf("removed %d fields, want 3:\n%s", n, got)
	}
	for _, keep := range []string{"Received: from x\r\n\tby mail.contoso.com", "mx.other.example; spf=pass", "Subject: Authentication-Results", "\r\n\r\nAuthentication-Results: mail.contoso.com; in the body stays\r\n"} {
		if !strings.Contains(got, keep) {
			t.Errorf("lost %q:\n%s", keep, got)
		}
	}
	if strings.Contains(got, "bank.test") {
		t.Errorf("a field claiming our name survived:\n%s", got)
	}
	if same, n := StripOwnResults([]byte("Subject: x\r\n\r\nbody"), "mail.contoso.com"); n != 0 || string(same) != "Subject: x\r\n\r\nbody" {
		t.Errorf("changed a message without such fields: %q", same)
	}
}

func TestFromDomain(t *testing.T) {
	for msg, want := range map[string]string{
		"From: Alice <alice@Contoso.COM>\r\n\r\nx":         "contoso.com",
		"from: alice@contoso.com\r\n\r\n":                  "contoso.com",
		"From: a@x.test\r\nFrom: b@y.test\r\n\r\n":         "", // two From: fields
		"From: a@x.test, b@y.test\r\n\r\n":                 "", // two authors
		"Subject: no from\r\n\r\n":                         "",
		"From: \"Folded\r\n Name\" <f@fold.test>\r\n\r\nx": "fold.test",
	} {
		if got := FromDomain([]byte(msg)); got != want {
			t.Errorf("FromDomain(%q) = %q, want %q", msg, got, want)
		}
	}
}

// FuzzStripOwnResults: the header splitter and the removal take any bytes
// from the network without panicking, keep every byte of what they do not
// remove, and never remove a field that does not name us.
func FuzzStripOwnResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mail.contoso.com; spf=pass\r\nSubject: x\r\n\r\nbody"))
	f.Add([]byte("Authentication-Results: other; spf=pass\r\n\tfolded\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte(":\r\n \r\nAuthentication-Results:\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		head := HeaderSection(msg)
		var joined []byte
		for _, fl := range Fields(head) {
			joined = append(joined, fl.Raw...)
		}
		if !bytes.Equal(joined, head) {
			t.Fatalf("fields do not make up the header again: %q vs %q", joined, head)
		}
		out, n := StripOwnResults(msg, "mail.contoso.com")
		if n == 0 && !bytes.Equal(out, msg) {
			t.Fatal("changed a message while removing nothing")
		}
		if !bytes.HasSuffix(out, msg[len(head):]) {
			t.Fatal("changed the body")
		}
		if len(out) > len(msg) {
			t.Fatal("grew the message")
		}
		FromDomain(msg)
	})
}

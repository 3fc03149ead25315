package dsn

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	testNow     = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	testArrival = testNow.Add(-2 * time.Hour)
)

const testOriginal = "Received: from app.contoso.com\r\n" +
	"Message-ID: <orig-1@contoso.com>\r\n" +
	"From: Alice <alice@contoso.com>\r\n" +
	"To: bob@example.org\r\n" +
	"Subject: Quarterly report\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	"X-Not-A-Header: this is body text\r\n"

// parsed is a built notification read back with net/mail and
// mime/multipart.
type parsed struct {
	header mail.Header
	parts  []parsedPart
	// message is the per-message block, recipients the per-recipient
	// blocks of the delivery-status part.
	message    textproto.MIMEHeader
	recipients []textproto.MIMEHeader
}

type parsedPart struct {
	header textproto.MIMEHeader
	raw    []byte // as sent
	body   []byte // transfer-decoded
}

// checkWire checks what every notification must be on the wire: CRLF
// line endings only and no line over 998 octets.
func checkWire(t testing.TB, raw []byte) {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d octets long", i+1, len(line))
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Fatalf("message does not end with CRLF")
	}
}

func parse(t testing.TB, raw []byte) parsed {
	t.Helper()
	checkWire(t, raw)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v\n%s", err, raw)
	}
	p := parsed{header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type = %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextRawPart: %v", err)
		}
		raw, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("reading part: %v", err)
		}
		body := raw
		if part.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatalf("quoted-printable: %v", err)
			}
		}
		p.parts = append(p.parts, parsedPart{header: part.Header, raw: raw, body: body})
	}
	if len(p.parts) < 2 {
		t.Fatalf("%d parts, want at least 2", len(p.parts))
	}
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(p.parts[1].body)))
	p.message, err = tr.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("per-message fields: %v", err)
	}
	for {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			p.recipients = append(p.recipients, h)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("per-recipient fields: %v", err)
		}
	}
	return p
}

func build(t testing.TB, r Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Build(&b, r); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return b.Bytes()
}

func failedReport() Report {
	return Report{
		ReportingMTA:      "mail.contoso.com",
		From:              "postmaster@contoso.com",
		To:                "alice@contoso.com",
		OriginalMessageID: "<orig-1@contoso.com>",
		QueueID:           "0A1B2C",
		ArrivalDate:       testArrival,
		Recipients: []Recipient{{
			Address:           "bob@example.org",
			OriginalRecipient: "rfc822;Bob@Example.org",
			Action:            Failed,
			Status:            [3]int{5, 1, 1},
			DiagnosticCode:    "550 5.1.1 user unknown",
			RemoteMTA:         "mx.example.org",
			LastAttempt:       testNow,
		}},
		Original: strings.NewReader(testOriginal),
		Now:      testNow,
	}
}

func TestBuildRoundTrip(t *testing.T) {
	delayed := Recipient{
		Address: "carol@example.net", Action: Delayed, Status: [3]int{4, 4, 1},
		DiagnosticCode: "smtp; 421 4.4.1 try later", RemoteMTA: "dns; mx.example.net",
		LastAttempt: testNow, WillRetryUntil: testNow.Add(46 * time.Hour),
	}
	tests := []struct {
		name        string
		edit        func(*Report)
		subject     string
		recipients  []map[string]string // per-recipient fields expected (absent: "")
		humanSubstr []string
	}{
		{
			name:    "failed",
			edit:    func(*Report) {},
			subject: "Undeliverable: Quarterly report",
			recipients: []map[string]string{{
				"Original-Recipient": "rfc822; Bob@Example.org",
				"Final-Recipient":    "rfc822; bob@example.org",
				"Action":             "failed",
				"Status":             "5.1.1",
				"Remote-MTA":         "dns; mx.example.org",
				"Diagnostic-Code":    "smtp; 550 5.1.1 user unknown",
				"Last-Attempt-Date":  "Mon, 02 Mar 2026 10:00:00 +0000",
				"Will-Retry-Until":   "",
			}},
			humanSubstr: []string{"couldn't be delivered to bob@example.org", "wasn't found at example.org", "Remote server returned '550 5.1.1 user unknown'"},
		},
		{
			name: "delayed",
			edit: func(r *Report) {
				r.Recipients = []Recipient{delayed}
			},
			subject: "Delivery delayed: Quarterly report",
			recipients: []map[string]string{{
				"Original-Recipient": "",
				"Final-Recipient":    "rfc822; carol@example.net",
				"Action":             "delayed",
				"Status":             "4.4.1",
				"Remote-MTA":         "dns; mx.example.net",
				"Diagnostic-Code":    "smtp; 421 4.4.1 try later",
				"Will-Retry-Until":   "Wed, 04 Mar 2026 08:00:00 +0000",
			}},
			humanSubstr: []string{"is delayed", "1 day 22 hours from now", "You don't need to do anything"},
		},
		{
			name: "failed and delayed, default status",
			edit: func(r *Report) {
				r.Recipients[0].Status = [3]int{}
				r.Recipients = append(r.Recipients, delayed)
			},
			subject: "Undeliverable: Quarterly report",
			recipients: []map[string]string{
				{"Final-Recipient": "rfc822; bob@example.org", "Action": "failed", "Status": "5.0.0"},
				{"Final-Recipient": "rfc822; carol@example.net", "Action": "delayed", "Status": "4.4.1"},
			},
		},
		{
			name: "delivered, relayed, expanded",
			edit: func(r *Report) {
				r.Recipients = []Recipient{
					{Address: "rfc822; d@example.org", Action: Delivered, Status: [3]int{2, 0, 0}},
					{Address: "r@example.org", Action: Relayed},
					{Address: "list@example.org", Action: Expanded, Status: [3]int{2, 1, 5}},
				}
			},
			subject: "Delivered: Quarterly report",
			recipients: []map[string]string{
				{"Final-Recipient": "rfc822; d@example.org", "Action": "delivered", "Status": "2.0.0"},
				{"Final-Recipient": "rfc822; r@example.org", "Action": "relayed", "Status": "2.0.0"},
				{"Final-Recipient": "rfc822; list@example.org", "Action": "expanded", "Status": "2.1.5"},
			},
			humanSubstr: []string{"delivered to d@example.org", "doesn't send delivery notifications", "delivered to the group list@example.org"},
		},
		{
			name: "SMTPUTF8 recipient",
			edit: func(r *Report) {
				r.Recipients[0].Address = "jörg@example.de"
				r.Recipients[0].OriginalRecipient = ""
			},
			subject: "Undeliverable: Quarterly report",
			recipients: []map[string]string{
				{"Final-Recipient": `utf-8; j\x{F6}rg@example.de`},
			},
			humanSubstr: []string{"jörg@example.de"},
		},
		{
			name: "hostile diagnostic text",
			edit: func(r *Report) {
				r.Recipients[0].DiagnosticCode = "550 bad\r\nBcc: victim@example.org\x00\xff"
			},
			subject: "Undeliverable: Quarterly report",
			recipients: []map[string]string{
				{"Diagnostic-Code": "smtp; 550 bad Bcc: victim@example.org ?", "Bcc": ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failedReport()
			tt.edit(&r)
			p := parse(t, build(t, r))

			h := p.header
			if got := h.Get("From"); got != `"Mail Delivery System" <postmaster@contoso.com>` {
				t.Errorf("From = %q", got)
			}
			if got := h.Get("To"); got != "<alice@contoso.com>" {
				t.Errorf("To = %q", got)
			}
			if got, err := h.Date(); err != nil || !got.Equal(testNow) {
				t.Errorf("Date = %v, %v", got, err)
			}
			dec := new(mime.WordDecoder)
			if got, err := dec.DecodeHeader(h.Get("Subject")); err != nil || got != tt.subject {
				t.Errorf("Subject = %q (%v), want %q", got, err, tt.subject)
			}
			if got := h.Get("Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if got := h.Get("In-Reply-To"); got != "<orig-1@contoso.com>" {
				t.Errorf("In-Reply-To = %q", got)
			}
			if got := h.Get("MIME-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			if !IsDSN(textproto.MIMEHeader(h)) {
				t.Errorf("IsDSN(built notification) = false")
			}

			if len(p.parts) != 3 {
				t.Fatalf("%d parts, want 3", len(p.parts))
			}
			human := p.parts[0]
			if mt, _, _ := mime.ParseMediaType(human.header.Get("Content-Type")); mt != "text/plain" {
				t.Errorf("part 1 Content-Type = %q", human.header.Get("Content-Type"))
			}
			for _, c := range human.raw {
				if c >= 0x80 || c == 0 {
					t.Fatalf("human-readable part is not 7bit: %q", human.raw)
				}
			}
			for _, s := range tt.humanSubstr {
				if !bytes.Contains(unwrap(human.body), []byte(s)) {
					t.Errorf("human-readable part lacks %q:\n%s", s, human.body)
				}
			}
			if got := p.parts[1].header.Get("Content-Type"); got != "message/delivery-status" {
				t.Errorf("part 2 Content-Type = %q", got)
			}
			if got := p.message.Get("Reporting-MTA"); got != "dns; mail.contoso.com" {
				t.Errorf("Reporting-MTA = %q", got)
			}
			if got := p.message.Get("Arrival-Date"); got != "Mon, 02 Mar 2026 08:00:00 +0000" {
				t.Errorf("Arrival-Date = %q", got)
			}
			if got := p.message.Get("X-Transportd-Queue-Id"); got != "0A1B2C" {
				t.Errorf("X-Transportd-Queue-Id = %q", got)
			}
			if len(p.recipients) != len(tt.recipients) {
				t.Fatalf("%d recipient blocks, want %d:\n%s", len(p.recipients), len(tt.recipients), p.parts[1].body)
			}
			for i, want := range tt.recipients {
				for k, v := range want {
					if got := p.recipients[i].Get(k); got != v {
						t.Errorf("recipient %d: %s = %q, want %q", i+1, k, got, v)
					}
				}
			}
			if got := p.parts[2].header.Get("Content-Type"); got != "text/rfc822-headers" {
				t.Errorf("part 3 Content-Type = %q", got)
			}
		})
	}
}

// unwrap joins the lines of wrapped text, so tests can look for phrases.
func unwrap(b []byte) []byte {
	return bytes.Join(bytes.Fields(b), []byte(" "))
}

func TestSubjectEncoding(t *testing.T) {
	long := strings.Repeat("Überweisung für das Projekt ", 8)
	tests := []struct {
		name, original, want string
	}{
		{"ascii", "Hello", "Undeliverable: Hello"},
		{"none", "", "Undeliverable:"},
		{"encoded-word", "=?iso-8859-1?q?Gr=FC=DFe?=", "Undeliverable: Grüße"},
		{"raw utf-8", "Grüße aus Köln", "Undeliverable: Grüße aus Köln"},
		{"long", long, "Undeliverable: " + strings.TrimSpace(long)},
		{"control characters", "a\tb\x01c", "Undeliverable: a b c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failedReport()
			r.Original = strings.NewReader("Subject: " + tt.original + "\r\n\r\nbody\r\n")
			raw := build(t, r)
			p := parse(t, raw)
			subj := p.header.Get("Subject")
			if !isASCII(subj) {
				t.Errorf("Subject is not ASCII: %q", subj)
			}
			got, err := new(mime.WordDecoder).DecodeHeader(subj)
			if err != nil || got != tt.want {
				t.Errorf("Subject decodes to %q (%v), want %q", got, err, tt.want)
			}
			hdr, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			for _, line := range bytes.Split(hdr, []byte("\r\n")) {
				if len(line) > 78 {
					t.Errorf("header line of %d characters: %q", len(line), line)
				}
			}
		})
	}
}

func TestSubjectUnknownCharset(t *testing.T) {
	r := failedReport()
	r.Original = strings.NewReader("Subject: =?x-unknown?q?abc?=\r\n\r\n")
	p := parse(t, build(t, r))
	if got := p.header.Get("Subject"); got != "Undeliverable: =?x-unknown?q?abc?=" {
		t.Errorf("Subject = %q", got)
	}
}

func TestHeaderFolding(t *testing.T) {
	diag := "550 5.7.1 " + strings.Repeat("policy words ", 30)
	huge := strings.Repeat("x", 2500)
	tests := []struct{ name, value string }{
		{"long text", diag},
		{"one huge word", huge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeField(&b, "Diagnostic-Code", "smtp; "+tt.value)
			checkWire(t, b.Bytes())
			lines := strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n")
			for i, l := range lines[1:] {
				if l == "" || (l[0] != ' ' && l[0] != '\t') {
					t.Fatalf("line %d is not a continuation: %q", i+2, l)
				}
				if strings.TrimSpace(l) == "" {
					t.Fatalf("line %d is only white space", i+2)
				}
			}
			if strings.Fields(tt.value)[0] != huge && len(lines) < 2 {
				t.Errorf("not folded: %q", b.String())
			}
			h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(b.String() + "\r\n"))).ReadMIMEHeader()
			if err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(h.Get("Diagnostic-Code"), " ", "")
			if want := strings.ReplaceAll("smtp; "+tt.value, " ", ""); got != want {
				t.Errorf("unfolded value differs:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	r := failedReport()
	r.Boundary = "transportd-dsn-golden"
	r.MessageID = "dsn-golden@mail.contoso.com"
	r.Recipients = append(r.Recipients, Recipient{
		Address: "carol@example.net", Action: Delayed, Status: [3]int{4, 4, 1},
		LastAttempt: testNow, WillRetryUntil: testNow.Add(48 * time.Hour),
	})
	got := build(t, r)
	path := filepath.Join("testdata", "failed.golden.eml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestOriginalHeaders(t *testing.T) {
	tests := []struct {
		name, original, want string
	}{
		{"stops at first empty line", testOriginal,
			"Received: from app.contoso.com\r\nMessage-ID: <orig-1@contoso.com>\r\nFrom: Alice <alice@contoso.com>\r\nTo: bob@example.org\r\nSubject: Quarterly report\r\n\r\n"},
		{"no body", "From: a@contoso.com\r\nSubject: x\r\n", "From: a@contoso.com\r\nSubject: x\r\n\r\n"},
		{"no body, no final CRLF", "From: a@contoso.com\r\nSubject: x", "From: a@contoso.com\r\nSubject: x\r\n\r\n"},
		{"bare LF", "From: a@contoso.com\nSubject: x\n\nbody\nX: y\n", "From: a@contoso.com\r\nSubject: x\r\n\r\n"},
		{"folded field kept", "Subject: a\r\n b\r\n\r\nbody", "Subject: a\r\n b\r\n\r\n"},
		{"empty message", "", "\r\n"},
		{"body only", "\r\nbody\r\n", "\r\n"},
		{"NUL dropped", "Subject: a\x00b\r\n\x00\r\nX: y\r\n\r\n", "Subject: ab\r\nX: y\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failedReport()
			r.Original = strings.NewReader(tt.original)
			p := parse(t, build(t, r))
			if len(p.parts) != 3 {
				t.Fatalf("%d parts", len(p.parts))
			}
			if got := p.parts[2].header.Get("Content-Type"); got != "text/rfc822-headers" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := string(p.parts[2].body); got != tt.want {
				t.Errorf("headers part = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("no original", func(t *testing.T) {
		r := failedReport()
		r.Original = nil
		r.OriginalMessageID = ""
		p := parse(t, build(t, r))
		if len(p.parts) != 2 {
			t.Errorf("%d parts, want 2", len(p.parts))
		}
		if got := p.header.Get("In-Reply-To"); got != "" {
			t.Errorf("In-Reply-To = %q", got)
		}
	})
	t.Run("Message-ID taken from original", func(t *testing.T) {
		r := failedReport()
		r.OriginalMessageID = ""
		p := parse(t, build(t, r))
		if got := p.header.Get("References"); got != "<orig-1@contoso.com>" {
			t.Errorf("References = %q", got)
		}
	})
}

func TestFullMode(t *testing.T) {
	size := int64(len(testOriginal))
	longLine := "Subject: x\r\n\r\n" + strings.Repeat("y", 1200) + "\r\n"
	tests := []struct {
		name       string
		original   string
		returnFull bool
		limit      int64
		wantFull   bool
	}{
		{"headers when not asked", testOriginal, false, 1 << 20, false},
		{"full under the limit", testOriginal, true, size + 1, true},
		{"full at the limit", testOriginal, true, size, true},
		{"headers over the limit", testOriginal, true, size - 1, false},
		{"headers when limit is zero", testOriginal, true, 0, false},
		{"headers when a line is too long", longLine, true, 1 << 20, false},
		{"bare LF normalised", strings.ReplaceAll(testOriginal, "\r\n", "\n"), true, 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failedReport()
			r.Original = strings.NewReader(tt.original)
			r.ReturnFull = tt.returnFull
			r.FullLimit = tt.limit
			p := parse(t, build(t, r))
			part := p.parts[2]
			ct := part.header.Get("Content-Type")
			if tt.wantFull {
				if ct != "message/rfc822" {
					t.Fatalf("Content-Type = %q, want message/rfc822", ct)
				}
				if got := string(part.body); got != testOriginal {
					t.Errorf("body = %q, want the original", got)
				}
				return
			}
			if ct != "text/rfc822-headers" {
				t.Fatalf("Content-Type = %q, want text/rfc822-headers", ct)
			}
			if bytes.Contains(part.body, []byte("Hello Bob")) || bytes.Contains(part.body, []byte("yyyy")) {
				t.Errorf("headers part holds body text: %q", part.body)
			}
		})
	}
}

func TestBoundaryInOriginal(t *testing.T) {
	r := failedReport()
	r.Original = strings.NewReader("Subject: x\r\n\r\n--fixed\r\n")
	r.ReturnFull, r.FullLimit = true, 1<<20
	r.Boundary = "fixed"
	if err := Build(io.Discard, r); err == nil {
		t.Errorf("Build accepted a boundary that occurs in the original")
	}
	r.Original = strings.NewReader("Subject: x\r\n\r\n--fixed\r\n")
	r.Boundary = ""
	p := parse(t, build(t, r))
	if len(p.parts) != 3 {
		t.Errorf("%d parts, want 3", len(p.parts))
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Report)
	}{
		{"no reporting MTA", func(r *Report) { r.ReportingMTA = "" }},
		{"null sender", func(r *Report) { r.To = "" }},
		{"no recipients", func(r *Report) { r.Recipients = nil }},
		{"no address", func(r *Report) { r.Recipients[0].Address = " " }},
		{"unknown action", func(r *Report) { r.Recipients[0].Action = "bounced" }},
		{"status class mismatch", func(r *Report) { r.Recipients[0].Status = [3]int{4, 1, 1} }},
		{"status out of range", func(r *Report) { r.Recipients[0].Status = [3]int{5, -1, 1} }},
		{"bad boundary", func(r *Report) { r.Boundary = "bad boundary with spaces at end " }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failedReport()
			tt.edit(&r)
			var b bytes.Buffer
			err := Build(&b, r)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			if !strings.HasPrefix(err.Error(), "dsn: ") {
				t.Errorf("error lacks context: %v", err)
			}
			if b.Len() != 0 {
				t.Errorf("Build wrote %d bytes on error", b.Len())
			}
		})
	}
}

func TestIsDSN(t *testing.T) {
	tests := []struct {
		name   string
		header map[string][]string
		want   bool
	}{
		{"plain message", map[string][]string{"Content-Type": {"text/plain"}}, false},
		{"no header", nil, false},
		{"multipart/report delivery-status", map[string][]string{"Content-Type": {`multipart/report; report-type=delivery-status; boundary="x"`}}, true},
		{"case and quotes", map[string][]string{"Content-Type": {`Multipart/Report; Report-Type="Delivery-Status"; boundary=x`}}, true},
		{"multipart/report MDN", map[string][]string{"Content-Type": {`multipart/report; report-type=disposition-notification; boundary=x`}}, false},
		{"malformed content type", map[string][]string{"Content-Type": {`multipart/report; report-type=delivery-status; boundary="x`}}, true},
		{"message/delivery-status", map[string][]string{"Content-Type": {"message/delivery-status"}}, true},
		{"auto-replied", map[string][]string{"Auto-Submitted": {"auto-replied"}}, true},
		{"auto-generated with parameter", map[string][]string{"Auto-Submitted": {"auto-generated; owner-email=x@y"}}, true},
		{"auto-submitted no", map[string][]string{"Auto-Submitted": {"No"}}, false},
		{"auto-submitted no with comment", map[string][]string{"Auto-Submitted": {"no (human)"}}, false},
		{"auto-submitted empty", map[string][]string{"Auto-Submitted": {""}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := textproto.MIMEHeader{}
			for k, vs := range tt.header {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			if got := IsDSN(h); got != tt.want {
				t.Errorf("IsDSN = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWrapWidth(t *testing.T) {
	text := strings.Repeat("word ", 100) + strings.Repeat("z", 1500)
	out := wrap(text, 76)
	checkWire(t, []byte(out))
	for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(l) > 76 && !strings.HasPrefix(l, "zzz") {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
	if strings.HasPrefix(wrap(strings.Repeat("z", 1500), 76), "\r\n") {
		t.Errorf("wrap starts with an empty line")
	}
}

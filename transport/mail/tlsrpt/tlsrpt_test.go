package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCollectorReport(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	file := filepath.Join(t.TempDir(), "tlsrpt.json")
	c := NewCollector(file, func() time.Time { return now })
	sts := Outcome{Domain: "fabrikam.test", PolicyType: PolicySTS, PolicyString: []string{"version: STSv1", "mode: enforce", "mx: mx1.fabrikam.test", "max_age: 86400"},
		MXPatterns: []string{"mx1.fabrikam.test"}, MXHost: "mx1.fabrikam.test", SendingIP: "192.0.2.1", ReceivingIP: "198.51.100.1"}
	ok := sts
	ok.Success = true
	bad := sts
	bad.ResultType, bad.Reason = ResultCertificateMismatch, "certificate does not cover mx1.fabrikam.test"
	c.Record(ok)
	c.Record(ok)
	c.Record(bad)
	c.Record(bad)
	if got := c.Due("mail.contoso.com", "postmaster@contoso.com"); len(got) != 0 {
		t.Fatalf("today's counts reported before the day ended: %d reports", len(got))
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	// A restart, the next day: the saved counts are reported once.
	now = now.Add(24 * time.Hour)
	c = NewCollector(file, func() time.Time { return now })
	reps := c.Due("mail.contoso.com", "postmaster@contoso.com")
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	if again := c.Due("mail.contoso.com", "postmaster@contoso.com"); len(again) != 0 {
		t.Errorf("a report came twice")
	}
	r := reps[0]
	var jr map[string]any
	if err := json.Unmarshal(r.JSON, &jr); err != nil {
		t.Fatal(err)
	}
	dr := jr["date-range"].(map[string]any)
	if dr["start-datetime"] != "2026-12-01T00:00:00Z" || dr["end-datetime"] != "2026-12-01T23:59:59Z" {
		t.Errorf("date range %v", dr)
	}
	pol := jr["policies"].([]any)[0].(map[string]any)
	sum := pol["summary"].(map[string]any)
	if sum["total-successful-session-count"] != 2.0 || sum["total-failure-session-count"] != 2.0 {
		t.Errorf("summary %v", sum)
	}
	fd := pol["failure-details"].([]any)[0].(map[string]any)
	if fd["result-type"] != "certificate-host-mismatch" || fd["failed-session-count"] != 2.0 || fd["receiving-mx-hostname"] != "mx1.fabrikam.test" {
		t.Errorf("failure details %v", fd)
	}
	if p := pol["policy"].(map[string]any); p["policy-type"] != "sts" || p["policy-domain"] != "fabrikam.test" {
		t.Errorf("policy %v", p)
	}

	// The mail form: multipart/report, report-type tlsrpt, the gzipped JSON.
	msg, err := mail.ReadMessage(bytes.NewReader(r.Message("postmaster@contoso.com", "tlsrpt@fabrikam.test", "mail.contoso.com", now)))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	if msg.Header.Get("TLS-Report-Domain") != "fabrikam.test" || msg.Header.Get("TLS-Report-Submitter") != "mail.contoso.com" {
		t.Errorf("header %v", msg.Header)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var found bool
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Header.Get("Content-Type"), "application/tlsrpt+gzip") {
			continue
		}
		if fn := p.FileName(); !strings.HasPrefix(fn, "mail.contoso.com!fabrikam.test!") || !strings.HasSuffix(fn, ".json.gz") {
			t.Errorf("file name %q", fn)
		}
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(b, r.JSON) {
			t.Errorf("attachment is not the report: %v", err)
		}
		found = true
	}
	if !found {
		t.Error("no application/tlsrpt+gzip part")
	}

	// The HTTPS form.
	var posted []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			http.Error(w, "type", http.StatusUnsupportedMediaType)
			return
		}
		zr, err := gzip.NewReader(req.Body)
		if err == nil {
			posted, _ = io.ReadAll(zr)
		}
	}))
	defer srv.Close()
	if err := r.Post(context.Background(), srv.Client(), srv.URL+"/tlsrpt"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(posted, r.JSON) {
		t.Error("the POST did not carry the report")
	}
}

func TestParseRUA(t *testing.T) {
	got, err := ParseRUA([]string{"v=TLSRPTv1; rua=mailto:tlsrpt@fabrikam.test,https://report.fabrikam.test/v1, ftp://x", "unrelated"})
	if err != nil || len(got) != 2 || got[0] != "mailto:tlsrpt@fabrikam.test" || got[1] != "https://report.fabrikam.test/v1" {
		t.Errorf("ParseRUA = %v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"v=TLSRPTv1; rua=ftp://x"}, {"v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"}} {
		if _, err := ParseRUA(bad); err == nil {
			t.Errorf("ParseRUA(%q) accepted", bad)
		}
	}
}

func FuzzParseRUA(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://example.com/r")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseRUA([]string{s})
		if err == nil && len(out) == 0 {
			t.Fatal("no error and no address")
		}
	})
}

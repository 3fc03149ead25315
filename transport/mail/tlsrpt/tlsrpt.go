// Package tlsrpt implements the sending side of SMTP TLS Reporting
// (RFC 8460): it counts the TLS sessions of MX deliveries made under a
// recipient domain's MTA-STS or DANE policy, per UTC day, and turns each
// finished day into the aggregate JSON report the domain asks for in its
// "_smtp._tls" TXT record, sent by mail (a multipart/report message) or
// HTTPS POST.
package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

// Policy types (RFC 8460 section 4.4).
const (
	PolicySTS  = "sts"
	PolicyTLSA = "tlsa"
)

// Result types of failed sessions (RFC 8460 section 4.3).
const (
	ResultSTARTTLSNotSupported = "starttls-not-supported"
	ResultCertificateMismatch  = "certificate-host-mismatch"
	ResultCertificateExpired   = "certificate-expired"
	ResultCertificateUntrusted = "certificate-not-trusted"
	ResultValidationFailure    = "validation-failure"
	ResultTLSAInvalid          = "tlsa-invalid"
)

// Outcome is one TLS session (or one refused MX host) under a policy.
type Outcome struct {
	// Domain is the policy domain (the recipient domain).
	Domain string
	// PolicyType is PolicySTS or PolicyTLSA.
	PolicyType string
	// PolicyString is the policy as RFC 8460 section 4.4 shows it: the
	// MTA-STS policy's lines, or the TLSA records.
	PolicyString []string
	// MXHost is the MX host name (or, for MTA-STS, the policy's patterns
	// go to MXPatterns).
	MXHost     string
	MXPatterns []string
	// ReceivingIP is the MX host's address, when a connection was made.
	ReceivingIP string
	// SendingIP is our address on the connection.
	SendingIP string
	// Success is set for a session that met the policy.
	Success bool
	// ResultType and Reason describe a failure.
	ResultType, Reason string
}

// failureKey groups failed sessions in a report.
type failureKey struct {
	ResultType, SendingIP, MXHost, ReceivingIP, Reason string
}

// aggregate is one policy's counts for a day.
type aggregate struct {
	Type       string         `json:"type"`
	Strings    []string       `json:"strings"`
	MXPatterns []string       `json:"mx,omitempty"`
	Success    int64          `json:"success"`
	Failure    int64          `json:"failure"`
	Failures   []failureCount `json:"failures,omitempty"`
}

type failureCount struct {
	failureKey
	Count int64 `json:"count"`
}

// state is what the collector keeps (and saves): day -> domain -> policy
// key -> counts.
type state map[string]map[string]map[string]*aggregate

// Collector counts outcomes. It is safe for concurrent use.
type Collector struct {
	file string
	now  func() time.Time

	mu    sync.Mutex
	days  state
	dirty bool
}

// NewCollector returns a collector saving to file ("" : memory only),
// loading what a previous run saved.
func NewCollector(file string, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	c := &Collector{file: file, now: now, days: state{}}
	if file != "" {
		if b, err := os.ReadFile(file); err == nil {
			_ = json.Unmarshal(b, &c.days) // an unreadable file starts afresh
			if c.days == nil {
				c.days = state{}
			}
		}
	}
	return c
}

// Record counts one outcome in today's (UTC) aggregate.
func (c *Collector) Record(o Outcome) {
	if c == nil || o.Domain == "" {
		return
	}
	day := c.now().UTC().Format(time.DateOnly)
	key := o.PolicyType + "|" + strings.Join(o.PolicyString, "\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirty = true
	doms := c.days[day]
	if doms == nil {
		doms = map[string]map[string]*aggregate{}
		c.days[day] = doms
	}
	pols := doms[o.Domain]
	if pols == nil {
		pols = map[string]*aggregate{}
		doms[o.Domain] = pols
	}
	a := pols[key]
	if a == nil {
		a = &aggregate{Type: o.PolicyType, Strings: o.PolicyString, MXPatterns: o.MXPatterns}
		pols[key] = a
	}
	if o.Success {
		a.Success++
		return
	}
	a.Failure++
	fk := failureKey{ResultType: o.ResultType, SendingIP: o.SendingIP, MXHost: o.MXHost, ReceivingIP: o.ReceivingIP, Reason: o.Reason}
	for i := range a.Failures {
		if a.Failures[i].failureKey == fk {
			a.Failures[i].Count++
			return
		}
	}
	if len(a.Failures) < 100 { // bound the detail; the summary still counts
		a.Failures = append(a.Failures, failureCount{failureKey: fk, Count: 1})
	}
}

// Save writes the counts to the file when they changed.
func (c *Collector) Save() error {
	if c == nil || c.file == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	b, err := json.Marshal(c.days)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(c.file, b, 0o600); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

// Report is one domain's aggregate report for one day.
type Report struct {
	Domain     string
	Begin, End time.Time
	ID         string
	// JSON is the report (RFC 8460 section 4.4), uncompressed.
	JSON []byte
}

// jsonReport is RFC 8460 section 4.4's structure.
type jsonReport struct {
	Organization string `json:"organization-name"`
	DateRange    struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	} `json:"date-range"`
	Contact  string       `json:"contact-info"`
	ReportID string       `json:"report-id"`
	Policies []jsonPolicy `json:"policies"`
}

type jsonPolicy struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string,omitempty"`
		Domain string   `json:"policy-domain"`
		MX     []string `json:"mx-host,omitempty"`
	} `json:"policy"`
	Summary struct {
		Success int64 `json:"total-successful-session-count"`
		Failure int64 `json:"total-failure-session-count"`
	} `json:"summary"`
	Failures []jsonFailure `json:"failure-details,omitempty"`
}

type jsonFailure struct {
	ResultType  string `json:"result-type"`
	SendingIP   string `json:"sending-mta-ip,omitempty"`
	MXHost      string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP string `json:"receiving-ip,omitempty"`
	Count       int64  `json:"failed-session-count"`
	Reason      string `json:"failure-reason-code,omitempty"`
}

// Due removes and returns the reports of the days before today (UTC),
// signed with organization and contact (RFC 8460 section 4.4).
func (c *Collector) Due(organization, contact string) []Report {
	if c == nil {
		return nil
	}
	today := c.now().UTC().Format(time.DateOnly)
	c.mu.Lock()
	defer c.mu.Unlock()
	var days []string
	for d := range c.days {
		if d < today {
			days = append(days, d)
		}
	}
	sort.Strings(days)
	var out []Report
	for _, d := range days {
		begin, err := time.Parse(time.DateOnly, d)
		if err != nil {
			delete(c.days, d)
			continue
		}
		end := begin.Add(24 * time.Hour).Add(-time.Second)
		doms := make([]string, 0, len(c.days[d]))
		for dom := range c.days[d] {
			doms = append(doms, dom)
		}
		sort.Strings(doms)
		for _, dom := range doms {
			r := Report{Domain: dom, Begin: begin, End: end, ID: begin.Format("20060102") + "." + randomID() + "@" + organization}
			var jr jsonReport
			jr.Organization, jr.Contact, jr.ReportID = organization, contact, r.ID
			jr.DateRange.Start, jr.DateRange.End = begin.Format(time.RFC3339), end.Format(time.RFC3339)
			keys := make([]string, 0, len(c.days[d][dom]))
			for k := range c.days[d][dom] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				a := c.days[d][dom][k]
				var p jsonPolicy
				p.Policy.Type, p.Policy.String, p.Policy.Domain, p.Policy.MX = a.Type, a.Strings, dom, a.MXPatterns
				p.Summary.Success, p.Summary.Failure = a.Success, a.Failure
				for _, f := range a.Failures {
					p.Failures = append(p.Failures, jsonFailure{ResultType: f.ResultType, SendingIP: f.SendingIP, MXHost: f.MXHost,
						ReceivingIP: f.ReceivingIP, Count: f.Count, Reason: f.Reason})
				}
				jr.Policies = append(jr.Policies, p)
			}
			r.JSON, _ = json.MarshalIndent(jr, "", "  ")
			out = append(out, r)
		}
		delete(c.days, d)
		c.dirty = true
	}
	return out
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseRUA reads the reporting addresses of a "_smtp._tls" TXT record
// set (RFC 8460 section 3): the one record starting "v=TLSRPTv1", its
// comma-separated rua URIs (mailto: and https: kept, others dropped).
func ParseRUA(txts []string) ([]string, error) {
	var found []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=TLSRPTv1") {
			continue
		}
		found = append(found, t)
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d v=TLSRPTv1 records, want 1 (RFC 8460 section 3)", len(found))
	}
	var out []string
	for f := range strings.SplitSeq(found[0], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if strings.TrimSpace(k) != "rua" {
			continue
		}
		for u := range strings.SplitSeq(v, ",") {
			u = strings.TrimSpace(u)
			pu, err := url.Parse(u)
			if err != nil {
				continue
			}
			switch strings.ToLower(pu.Scheme) {
			case "mailto":
				if pu.Opaque != "" && strings.Contains(pu.Opaque, "@") {
					out = append(out, u)
				}
			case "https":
				out = append(out, u)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the TLSRPTv1 record has no usable rua (mailto: or https:)")
	}
	return out, nil
}

// Gzip compresses the report (RFC 8460 section 5.1: application/tlsrpt+gzip).
func (r Report) Gzip() []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(r.JSON)
	_ = w.Close()
	return b.Bytes()
}

// Filename is RFC 8460 section 5.3's name:
// submitter!policy-domain!begin-timestamp!end-timestamp!unique-id.json.gz.
func (r Report) Filename(submitter string) string {
	return fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", submitter, r.Domain, r.Begin.Unix(), r.End.Unix(), randomID())
}

// Message builds the report mail (RFC 8460 section 5.3): a
// multipart/report of report-type tlsrpt with the gzipped JSON.
func (r Report) Message(from, to, submitter string, now time.Time) []byte {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	text := textproto.MIMEHeader{}
	text.Set("Content-Type", "text/plain; charset=us-ascii")
	tw, _ := mw.CreatePart(text)
	fmt.Fprintf(tw, "This is an aggregate TLS report from %s for %s,\r\n%s to %s.\r\n",
		submitter, r.Domain, r.Begin.Format(time.RFC3339), r.End.Format(time.RFC3339))
	att := textproto.MIMEHeader{}
	name := r.Filename(submitter)
	att.Set("Content-Type", `application/tlsrpt+gzip; name="`+name+`"`)
	att.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	att.Set("Content-Transfer-Encoding", "base64")
	aw, _ := mw.CreatePart(att)
	writeBase64(aw, r.Gzip())
	_ = mw.Close()
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: <%s>\r\nTo: <%s>\r\n", from, to)
	fmt.Fprintf(&m, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", r.Domain, submitter, r.ID)
	fmt.Fprintf(&m, "Date: %s\r\nMessage-ID: <%s.tlsrpt>\r\n", now.Format(time.RFC1123Z), strings.ReplaceAll(r.ID, "@", "."+randomID()+"@"))
	fmt.Fprintf(&m, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nTLS-Required: No\r\n", r.Domain, submitter)
	fmt.Fprintf(&m, "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"\r\n\r\n", mw.Boundary())
	m.Write(body.Bytes())
	return m.Bytes()
}

// Post sends the report to an https: rua (RFC 8460 section 5.4).
func (r Report) Post(ctx context.Context, client *http.Client, uri string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(r.Gzip()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("posting the TLS report for %s to %s: %w", r.Domain, uri, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting the TLS report for %s to %s: HTTP %s", r.Domain, uri, resp.Status)
	}
	return nil
}

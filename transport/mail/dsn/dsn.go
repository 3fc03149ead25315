// Package dsn builds delivery status notifications: the "Undeliverable:"
// and "Delivery delayed:" messages an MTA sends back to the envelope sender.
//
// A notification is a multipart/report message (RFC 6522, which obsoletes
// RFC 3462) of report-type delivery-status with three parts:
//
//  1. a human-readable explanation, worded like Exchange's NDRs: what
//     happened to each recipient, what the sender can do, and diagnostic
//     details for administrators;
//  2. the machine-readable message/delivery-status (RFC 3464) with
//     RFC 3463 enhanced status codes;
//  3. the original message's header section (text/rfc822-headers), or the
//     whole original message (message/rfc822) when asked for and small
//     enough.
//
// The original's header section, Subject and Message-ID are read with
// package header (go-message/textproto), leniently: a bounce quotes what it
// can of a broken header.
//
// IsDSN tells callers when a message is itself a notification or an
// automatic reply, so that a bounce is never bounced (RFC 3464 section 1,
// RFC 3834 section 2).
package dsn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/header"
)

// Action is the per-recipient Action field of RFC 3464 section 2.3.3.
type Action string

// The actions of RFC 3464 section 2.3.3.
const (
	// Failed: the message could not be delivered and will not be retried.
	Failed Action = "failed"
	// Delayed: delivery has not succeeded yet and is still being retried.
	Delayed Action = "delayed"
	// Delivered: the message was delivered to the recipient's mailbox.
	Delivered Action = "delivered"
	// Relayed: the message was passed on to a system that sends no DSNs.
	Relayed Action = "relayed"
	// Expanded: the recipient was a list or alias and the message was
	// passed on to its members.
	Expanded Action = "expanded"
)

// valid reports whether a is one of the five actions of RFC 3464.
func (a Action) valid() bool {
	switch a {
	case Failed, Delayed, Delivered, Relayed, Expanded:
		return true
	}
	return false
}

// statusClass is the RFC 3463 class an action's status code must have:
// 5 (permanent failure) for failed, 4 (persistent transient failure) for
// delayed and 2 (success) otherwise (RFC 3464 section 2.3.4).
func (a Action) statusClass() int {
	switch a {
	case Failed:
		return 5
	case Delayed:
		return 4
	}
	return 2
}

// Recipient is what happened to one recipient of the original message:
// one per-recipient block of RFC 3464 section 2.3.
type Recipient struct {
	// Address is the final recipient (RFC 3464 section 2.3.2), either a
	// bare address ("bob@example.org") or already typed
	// ("rfc822; bob@example.org").
	Address string
	// OriginalRecipient is the ORCPT parameter given at RCPT TO (RFC 3461
	// section 4.2), bare or typed like Address; empty when none was given
	// (RFC 3464 section 2.3.1).
	OriginalRecipient string
	// Action is what was done (RFC 3464 section 2.3.3).
	Action Action
	// Status is the RFC 3463 enhanced status code, e.g. {5, 1, 1}. Its
	// class must match Action (5 for failed, 4 for delayed, 2 otherwise);
	// the zero value stands for X.0.0 of the matching class.
	Status [3]int
	// DiagnosticCode is the remote server's reply, e.g.
	// "550 5.1.1 user unknown", written as "smtp; 550 5.1.1 user unknown"
	// (RFC 3464 section 2.3.6). A value that already starts with a
	// diagnostic type ("smtp;", "x-local;") is kept as it is.
	DiagnosticCode string
	// RemoteMTA is the server that gave the reply, bare ("mx.example.org")
	// or typed ("dns; mx.example.org"); optional (RFC 3464 section 2.3.5).
	RemoteMTA string
	// LastAttempt is when delivery was last tried; optional (RFC 3464
	// section 2.3.7).
	LastAttempt time.Time
	// WillRetryUntil is when retrying stops; written only for Delayed
	// (RFC 3464 section 2.3.9).
	WillRetryUntil time.Time
	// Expired marks a Failed recipient given up on because the message
	// expired while it was retried; Status and DiagnosticCode are then
	// those of the last attempt, and the text says both.
	Expired bool
}

// Report is one delivery status notification to build.
type Report struct {
	// ReportingMTA is our FQDN, written as "Reporting-MTA: dns; <fqdn>"
	// (RFC 3464 section 2.2.2). Required.
	ReportingMTA string
	// From is the notification's From address, e.g.
	// "postmaster@contoso.com", shown as "Mail Delivery System". Empty
	// means postmaster@ReportingMTA.
	From string
	// To is the original message's envelope sender, who receives the
	// notification. Required: a message with the null reverse-path never
	// gets a notification (RFC 5321 section 4.5.5, RFC 3461 section 6.2).
	To string
	// OriginalMessageID is the original message's Message-ID, used for
	// In-Reply-To and References so that mail clients thread the
	// notification with the message. Empty means: take it from the
	// original header section, if given.
	OriginalMessageID string
	// QueueID is our queue id of the original message, written as the
	// extension field X-Transportd-Queue-Id (RFC 3464 section 2.4).
	QueueID string
	// ArrivalDate is when the original message arrived (RFC 3464 section
	// 2.2.5); omitted when zero.
	ArrivalDate time.Time
	// Recipients are the recipients the notification is about; at least
	// one.
	Recipients []Recipient
	// Original is the original message (CRLF text; bare LF is tolerated).
	// Only its header section is returned (text/rfc822-headers) unless
	// ReturnFull is set and the message is no bigger than FullLimit bytes;
	// then it is returned whole (message/rfc822). Nil leaves the third
	// part out.
	Original io.Reader
	// EnvelopeID is the sender's ENVID (RFC 3461 section 4.4), written
	// as Original-Envelope-Id (RFC 3464 section 2.2.1); empty: none.
	EnvelopeID string
	// ReturnFull asks for the whole original message (RET=FULL, RFC 3461
	// section 4.3).
	ReturnFull bool
	// FullLimit is the biggest original returned whole, in bytes; zero or
	// less means headers only.
	FullLimit int64
	// Now is the notification's Date; zero means time.Now().
	Now time.Time
	// Boundary is the MIME boundary; empty means a random one. Set it for
	// deterministic output in tests.
	Boundary string
	// MessageID is the notification's own Message-ID, with or without
	// angle brackets; empty means a random one at ReportingMTA.
	MessageID string
}

// displayName is the From display name, as Exchange and most MTAs use.
const displayName = "Mail Delivery System"

// Build writes the whole notification, header section and body, to w:
// CRLF line endings, no line over 998 octets (RFC 5322 section 2.1.1), a
// 7bit-safe human-readable part and an RFC 2047 encoded Subject when the
// original subject is not ASCII. The message carries
// "Auto-Submitted: auto-replied" (RFC 3834 section 5) so that no
// auto-responder answers it.
//
// Build writes nothing when the report is invalid (no recipients, an
// unknown action, a status class that does not match the action, no
// ReportingMTA or no To).
func Build(w io.Writer, r Report) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}

	orig, err := readOriginal(r.Original, r.ReturnFull, r.FullLimit)
	if err != nil {
		return fmt.Errorf("dsn: reading the original message: %w", err)
	}
	origSubject, origID := "", r.OriginalMessageID
	if orig != nil {
		h, _ := header.Parse(orig.header) // lenient: a broken line is skipped
		origSubject = h.Get("Subject")
		if origID == "" {
			origID = h.Get("Message-Id")
		}
	}
	origID = sanitizeASCII(origID)

	human := humanText(r, decodeSubject(origSubject), now)
	status := deliveryStatus(r)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if r.Boundary != "" {
		if err := mw.SetBoundary(r.Boundary); err != nil {
			return fmt.Errorf("dsn: boundary %q: %w", r.Boundary, err)
		}
	}
	// RFC 2046 section 5.1.1: the boundary must not occur in any part.
	for orig != nil && bytes.Contains(orig.content, []byte("--"+mw.Boundary())) {
		if r.Boundary != "" {
			return fmt.Errorf("dsn: boundary %q occurs in the original message", r.Boundary)
		}
		mw = multipart.NewWriter(&body)
	}
	body.WriteString("This is a MIME-encapsulated message.\r\n\r\n")

	if err := writePart(mw, human.header(), human.body); err != nil {
		return fmt.Errorf("dsn: writing the notification text: %w", err)
	}
	stHeader := textproto.MIMEHeader{}
	stHeader.Set("Content-Type", "message/delivery-status")
	stHeader.Set("Content-Description", "Delivery report")
	stHeader.Set("Content-Transfer-Encoding", "7bit")
	if err := writePart(mw, stHeader, status); err != nil {
		return fmt.Errorf("dsn: writing the delivery status: %w", err)
	}
	if orig != nil {
		if err := writePart(mw, orig.partHeader(), orig.content); err != nil {
			return fmt.Errorf("dsn: writing the original message: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("dsn: closing the MIME body: %w", err)
	}
	body.WriteString("\r\n")

	msgID := strings.Trim(sanitizeASCII(r.MessageID), "<>")
	if msgID == "" {
		msgID = randomToken() + "@" + sanitizeASCII(r.ReportingMTA)
	}
	from := r.From
	if from == "" {
		from = "postmaster@" + r.ReportingMTA
	}

	var out bytes.Buffer
	writeField(&out, "From", formatAddress(displayName, from))
	writeField(&out, "To", formatAddress("", r.To))
	writeField(&out, "Date", now.Format(time.RFC1123Z))
	writeField(&out, "Subject", subject(r.summaryAction(), origSubject))
	writeField(&out, "Message-ID", "<"+msgID+">")
	if origID != "" {
		id := "<" + strings.Trim(origID, "<> ") + ">"
		writeField(&out, "In-Reply-To", id)
		writeField(&out, "References", id)
	}
	writeField(&out, "Auto-Submitted", "auto-replied")
	writeField(&out, "MIME-Version", "1.0")
	writeField(&out, "Content-Type", mime.FormatMediaType("multipart/report", map[string]string{
		"report-type": "delivery-status",
		"boundary":    mw.Boundary(),
	}))
	out.WriteString("\r\n")
	out.Write(body.Bytes())

	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("dsn: writing the notification: %w", err)
	}
	return nil
}

// validate checks what Build needs.
func (r *Report) validate() error {
	if strings.TrimSpace(r.ReportingMTA) == "" {
		return errors.New("no ReportingMTA")
	}
	if strings.TrimSpace(r.To) == "" {
		return errors.New("no To: a message with the null reverse-path gets no notification (RFC 5321 section 4.5.5)")
	}
	if len(r.Recipients) == 0 {
		return errors.New("no recipients to report on")
	}
	for i, rc := range r.Recipients {
		if strings.TrimSpace(rc.Address) == "" {
			return fmt.Errorf("recipient %d: no address", i+1)
		}
		if !rc.Action.valid() {
			return fmt.Errorf("recipient %s: unknown action %q", rc.Address, rc.Action)
		}
		if rc.Status != [3]int{} {
			if rc.Status[0] != rc.Action.statusClass() {
				return fmt.Errorf("recipient %s: status %s does not fit action %s (RFC 3464 section 2.3.4)", rc.Address, statusString(rc.Status), rc.Action)
			}
			if rc.Status[1] < 0 || rc.Status[1] > 999 || rc.Status[2] < 0 || rc.Status[2] > 999 {
				return fmt.Errorf("recipient %s: status %s out of range (RFC 3463 section 2)", rc.Address, statusString(rc.Status))
			}
		}
	}
	return nil
}

// summaryAction is the action the Subject names: failures first, then
// delays, then the successes.
func (r *Report) summaryAction() Action {
	for _, a := range []Action{Failed, Delayed, Delivered, Relayed} {
		for _, rc := range r.Recipients {
			if rc.Action == a {
				return a
			}
		}
	}
	return Expanded
}

// status returns the recipient's status code, X.0.0 of the action's class
// when none was given.
func (rc Recipient) status() [3]int {
	if rc.Status == [3]int{} {
		return [3]int{rc.Action.statusClass(), 0, 0}
	}
	return rc.Status
}

// statusString formats an RFC 3463 code as "5.1.1".
func statusString(s [3]int) string {
	return fmt.Sprintf("%d.%d.%d", s[0], s[1], s[2])
}

// writePart adds one body part.
func writePart(mw *multipart.Writer, h textproto.MIMEHeader, content []byte) error {
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(content)
	return err
}

// randomToken returns 16 random bytes in hex, for Message-IDs.
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

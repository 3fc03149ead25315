// Package delivery defines what every delivery target shares: the message
// handed to it and the per-recipient result it returns. Targets are the
// mailbox store (Maildir), an LMTP mailbox server and send connectors
// (smart hosts or MX). The queue manager calls Deliver and decides from the
// results what is done, retried or bounced.
package delivery

import (
	"context"
	"fmt"
	"io"
)

// Message is one queued message as a target sees it.
type Message struct {
	// ID is the queue id (shown in logs and in the 250 reply).
	ID string
	// From is the envelope sender; "" is the null reverse-path (RFC 5321 section 4.5.5).
	From string
	// Size is the size of the stored message in bytes.
	Size int64
	// SMTPUTF8 is set when the message was received with SMTPUTF8 (RFC
	// 6531): it may go only to a next hop that offers SMTPUTF8.
	SMTPUTF8 bool
	// Open returns a new reader over the stored message: CRLF line endings,
	// our Received header first. The caller closes it.
	Open func() (io.ReadCloser, error)

	// RequireTLS: the message came with REQUIRETLS (RFC 8689) and may be
	// relayed only over validated TLS to servers that offer REQUIRETLS.
	RequireTLS bool
}

// Result is the outcome for one recipient.
type Result struct {
	// Recipient is the address the result is for.
	Recipient string
	// Err is nil when the recipient was delivered (or accepted by the next hop).
	Err error

	// Info notes how the delivery was made, for message tracking: the
	// recipient domain's TLS policy and its outcome ("TlsPolicy=DANE
	// success"); "" when there is nothing to note.
	Info string
}

// Error is a delivery failure with the SMTP reply that explains it, in the
// form DSNs and logs show: "550 5.1.1 <bob@example.org>: user unknown".
type Error struct {
	// Code is the SMTP reply code; 4xx is transient, 5xx permanent.
	Code int
	// Enhanced is the RFC 3463 status code, e.g. [3]int{5, 1, 1}.
	Enhanced [3]int
	// Message is the human-readable text.
	Message string
	// RemoteMTA is the host that gave the reply, empty when the failure is ours.
	RemoteMTA string
	// Connection marks a failure of the next hop itself, before any
	// recipient was named: no connection, a refused greeting, TLS or
	// AUTH failing. Every message to that next hop would fail the same
	// way, so the queue manager puts the whole queue in Retry.
	Connection bool `json:",omitempty"`
}

// Error prints the reply as "550 5.1.1 text".
func (e *Error) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}

// Permanent reports whether retrying cannot help (5xx).
func (e *Error) Permanent() bool { return e.Code >= 500 }

// Temporary builds a transient failure (4.x.x) with our own reason, for
// connection refused, timeouts and local trouble.
func Temporary(enhanced [3]int, format string, args ...any) *Error {
	return &Error{Code: 451, Enhanced: enhanced, Message: fmt.Sprintf(format, args...)}
}

// Permanentf builds a permanent failure (5.x.x) with our own reason.
func Permanentf(enhanced [3]int, format string, args ...any) *Error {
	return &Error{Code: 550, Enhanced: enhanced, Message: fmt.Sprintf(format, args...)}
}

// IsPermanent reports whether err is a permanent delivery failure. Errors
// that are not *Error (a bug, a broken disk) count as transient: retrying
// loses nothing, bouncing could.
func IsPermanent(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Permanent()
}

// Target delivers messages to some recipients. Implementations return one
// Result for every recipient given, in any order, and must be safe for
// concurrent use.
type Target interface {
	Deliver(ctx context.Context, msg *Message, recipients []string) []Result
}

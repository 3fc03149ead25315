package dsn

import (
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
)

// textWidth is the width of the human-readable part's lines.
const textWidth = 76

// humanPart is the first body part (RFC 6522 section 3).
type humanPart struct {
	body []byte
	// utf8 is true when the text is not all ASCII and so is sent as
	// quoted-printable UTF-8, keeping the part 7bit (RFC 2045 section 6.7).
	utf8 bool
}

// header returns the part's MIME header.
func (h humanPart) header() textproto.MIMEHeader {
	m := textproto.MIMEHeader{}
	m.Set("Content-Description", "Notification")
	if h.utf8 {
		m.Set("Content-Type", "text/plain; charset=utf-8")
		m.Set("Content-Transfer-Encoding", "quoted-printable")
	} else {
		m.Set("Content-Type", "text/plain; charset=us-ascii")
		m.Set("Content-Transfer-Encoding", "7bit")
	}
	return m
}

// humanText explains the report in plain words, the way Exchange's NDRs
// do: one paragraph per recipient on what happened and what to do, then
// diagnostic information for administrators.
func humanText(r Report, origSubject string, now time.Time) humanPart {
	var b strings.Builder
	para := func(format string, args ...any) {
		b.WriteString(wrap(fmt.Sprintf(format, args...), textWidth))
		b.WriteString("\r\n")
	}
	line := func(format string, args ...any) {
		b.WriteString(wrap(fmt.Sprintf(format, args...), textWidth))
	}

	byAction := map[Action][]Recipient{}
	for _, rc := range r.Recipients {
		byAction[rc.Action] = append(byAction[rc.Action], rc)
	}
	if rcs := byAction[Failed]; len(rcs) > 0 {
		if origSubject != "" {
			para("Your message \"%s\" couldn't be delivered to %s.", origSubject, addrList(rcs))
		} else {
			para("Your message couldn't be delivered to %s.", addrList(rcs))
		}
		for _, rc := range rcs {
			what, todo := explain(rc)
			if st := rc.status(); rc.Expired && [2]int{st[1], st[2]} != [2]int{4, 7} {
				// The last real error, not a generic "couldn't be reached".
				para("%s: the server kept trying until the message expired. The last attempt failed because %s", displayAddr(rc.Address), what)
			} else {
				para("%s: %s", displayAddr(rc.Address), what)
			}
			para("What to do: %s", todo)
		}
	}
	if rcs := byAction[Delayed]; len(rcs) > 0 {
		if origSubject != "" {
			para("Delivery of your message \"%s\" to %s is delayed.", origSubject, addrList(rcs))
		} else {
			para("Delivery of your message to %s is delayed.", addrList(rcs))
		}
		for _, rc := range rcs {
			what, _ := explain(rc)
			para("%s: %s", displayAddr(rc.Address), what)
			if !rc.WillRetryUntil.IsZero() {
				para("The server will keep trying to deliver it until %s (%s from now). You don't need to do anything: you'll be told if it can't be delivered by then.",
					rc.WillRetryUntil.Format(time.RFC1123Z), roughDuration(rc.WillRetryUntil.Sub(now)))
			} else {
				para("The server will keep trying to deliver it. You don't need to do anything: you'll be told if it can't be delivered.")
			}
		}
	}
	if rcs := byAction[Delivered]; len(rcs) > 0 {
		para("Your message was delivered to %s.", addrList(rcs))
	}
	if rcs := byAction[Relayed]; len(rcs) > 0 {
		para("Your message was passed on to the email system of %s, which doesn't send delivery notifications. No further notification will follow.", addrList(rcs))
	}
	if rcs := byAction[Expanded]; len(rcs) > 0 {
		para("Your message was delivered to the group %s, which passed it on to its members.", addrList(rcs))
	}

	line("Diagnostic information for administrators:")
	b.WriteString("\r\n")
	line("Generating server: %s", r.ReportingMTA)
	if r.QueueID != "" {
		line("Queue ID: %s", r.QueueID)
	}
	b.WriteString("\r\n")
	for _, rc := range r.Recipients {
		line("%s", displayAddr(rc.Address))
		line("Action: %s, status %s", rc.Action, statusString(rc.status()))
		if rc.RemoteMTA != "" {
			line("Remote server: %s", stripType(rc.RemoteMTA))
		}
		if rc.DiagnosticCode != "" {
			line("Remote server returned '%s'", stripType(rc.DiagnosticCode))
		}
		b.WriteString("\r\n")
	}
	if r.Original != nil {
		if r.ReturnFull {
			line("The original message, or its header if it was too big, is attached.")
		} else {
			line("The original message header is attached.")
		}
	}

	text := b.String()
	if isASCII(text) {
		return humanPart{body: []byte(text)}
	}
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	_, _ = w.Write([]byte(text)) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	return humanPart{body: qp.Bytes(), utf8: true}
}

// displayAddr is a recipient address as a person reads it: without the
// "rfc822;" type.
func displayAddr(a string) string {
	return sanitizeText(stripType(a))
}

// addrList joins the recipients' addresses for a sentence.
func addrList(rcs []Recipient) string {
	names := make([]string, len(rcs))
	for i, rc := range rcs {
		names[i] = displayAddr(rc.Address)
	}
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// domainOf returns the domain of an address, or the address itself.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// roughDuration says how long d is in days and hours, or minutes.
func roughDuration(d time.Duration) string {
	if d < time.Hour {
		return plural(max(int(d/time.Minute), 0), "minute")
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days == 0:
		return plural(hours, "hour")
	case hours == 0:
		return plural(days, "day")
	}
	return plural(days, "day") + " " + plural(hours, "hour")
}

// plural writes "1 day", "2 days".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// explain says in plain words what an RFC 3463 status code means for the
// recipient and what the sender can do about it. It keys on subject and
// detail (RFC 3463 section 3), so 4.x.x and 5.x.x share the words.
func explain(rc Recipient) (what, todo string) {
	addr := displayAddr(rc.Address)
	domain := domainOf(addr)
	s := rc.status()
	switch [2]int{s[1], s[2]} {
	case [2]int{1, 1}:
		return fmt.Sprintf("this mailbox wasn't found at %s.", domain),
			"Check the address for typing errors and send the message again. If the address is right, the recipient's email admin needs to fix the mailbox; contact the recipient some other way."
	case [2]int{1, 2}:
		return fmt.Sprintf("the domain %s couldn't be found or doesn't accept email.", domain),
			"Check the part of the address after the @ for typing errors and send the message again."
	case [2]int{1, 3}:
		return "this isn't a valid email address.",
			"Check the address for typing errors and send the message again."
	case [2]int{1, 6}:
		return "the recipient's mailbox has moved and there is no forwarding address.",
			"Ask the recipient for their new address."
	case [2]int{1, 10}:
		return fmt.Sprintf("the domain %s says it doesn't accept any email (null MX).", domain),
			"Check the address; the recipient has to give you an address that accepts email."
	case [2]int{2, 1}:
		return "the recipient's mailbox is disabled or not accepting messages.",
			"Contact the recipient some other way."
	case [2]int{2, 2}:
		return "the recipient's mailbox is full.",
			"Try again later, or contact the recipient some other way."
	case [2]int{2, 3}, [2]int{3, 4}:
		return "the message is bigger than the recipient's email system accepts.",
			"Make the message smaller (remove or shrink attachments, or share large files by link) and send it again."
	case [2]int{4, 1}, [2]int{4, 2}:
		return fmt.Sprintf("the email server for %s didn't answer or dropped the connection.", domain),
			"Try again later. If it keeps happening, the recipient's email admin needs to check their server."
	case [2]int{4, 4}, [2]int{4, 0}:
		return fmt.Sprintf("the email server for %s couldn't be found.", domain),
			"Check the part of the address after the @ for typing errors. If it is right, the recipient's email admin needs to check their DNS (MX) records."
	case [2]int{4, 6}:
		return "the message was passed around in a loop between servers.",
			"Your email admin and the recipient's email admin need to check how mail is routed."
	case [2]int{4, 7}:
		return "the message couldn't be delivered before it expired: the recipient's server couldn't be reached or kept refusing it for too long.",
			"Try again later. If it keeps happening, contact the recipient some other way."
	case [2]int{6, 0}, [2]int{6, 1}, [2]int{6, 3}:
		return "the recipient's email system doesn't accept the message's content or format.",
			"Send the message again as plain text or without attachments."
	case [2]int{7, 8}:
		return "the server that relays our email (the smart host) refused our server's sign-in: the user name or password of the send connector is wrong or no longer valid.",
			"Forward this notification to your email admin: the send connector's credentials need fixing. Then send the message again."
	case [2]int{7, 1}:
		return "the recipient's email system refused the message: delivery isn't authorized. Your address may be blocked, or only some senders may write to this recipient.",
			"Contact the recipient some other way and ask them to allow your messages, or ask your email admin for help."
	case [2]int{7, 26}, [2]int{7, 25}, [2]int{7, 27}, [2]int{7, 23}:
		return "the recipient's email system refused the message because it failed its authentication checks (SPF, DKIM, DMARC or reverse DNS).",
			"Forward this notification to your email admin: your domain's email authentication needs fixing."
	}
	switch s[1] {
	case 5:
		return "the recipient's email server had a protocol problem with our server.",
			"Forward this notification to your email admin."
	case 7:
		return "the recipient's email system refused the message for a security or policy reason.",
			"Contact the recipient some other way, or forward this notification to your email admin."
	}
	if s[0] == 4 {
		return "the message couldn't be delivered yet.", ""
	}
	return "the recipient's email server refused the message.",
		"Forward this notification to your email admin, who can use the diagnostic information below to find out why."
}

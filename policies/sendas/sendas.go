// Package sendas is Exchange's Send As check on the message header: an
// authenticated user may put in From: and Sender: only addresses it owns
// or was granted Send As on. Checking the envelope alone (MAIL FROM) is
// not enough, since recipients see the header.
//
// The header is read with go-message directly, the parser package
// transport/mail/header builds on, rather than through that package:
// policies do not import the transport packages, and this check wants the
// strict reading (a header that does not parse is refused) where the mail
// path reads leniently.
package sendas

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/transportd/transportd/policies/permissions"
)

// refuse is 550 5.7.60, Exchange's "client does not have permissions to
// send as this sender".
func refuse(format string, args ...any) *permissions.Refusal {
	return &permissions.Refusal{Code: 550, Enhanced: [3]int{5, 7, 60},
		Reason: "Client does not have permissions to send as this sender: " + fmt.Sprintf(format, args...)}
}

// CheckHeader checks the header section of a message (everything up to and
// including the empty line; the body may follow and is ignored) submitted
// by user. mayUse reports whether user may send as an address (its own, or
// granted Send As).
//
// Every From: and Sender: field is checked, and every address in it
// (RFC 5322 section 3.6.2): folded lines, encoded words, comments and
// groups are read with go-message. It refuses with 550 5.7.60, naming
// the header:
//   - a From: or Sender: address user may not use;
//   - more than one From: or Sender: field (RFC 5322 section 3.6 allows one
//     of each; a receiving program might show either);
//   - a From: or Sender: without an address, or one that does not parse
//     (obsolete syntax included): what we cannot read we cannot check, and
//     another program might read it differently;
//   - a From: with several addresses and no Sender: (RFC 5322 section
//     3.6.2 requires Sender then), and a Sender: with several addresses;
//   - a header section that does not parse at all.
//
// A message without From: passes: nothing in it claims a sender.
func CheckHeader(header []byte, user string, mayUse func(address string) bool) *permissions.Refusal {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header)))
	if err != nil {
		return refuse("the message header cannot be parsed, so its From: cannot be checked (%s); send an RFC 5322 header section", clip(strings.TrimPrefix(err.Error(), "message: ")))
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	counts := map[string]int{}
	for _, key := range []string{"From", "Sender"} {
		fields := h.FieldsByKey(key)
		for fields.Next() {
			counts[key]++
		}
		if counts[key] > 1 {
			return refuse("the message has %d %s: header fields; RFC 5322 section 3.6 allows one", counts[key], key)
		}
		if counts[key] == 0 {
			continue
		}
		addrs, err := mh.AddressList(key)
		if err != nil {
			return refuse("header %s: %q cannot be parsed (%s); use plain addresses such as Name <user@example.com>", key, clip(h.Get(key)), clip(strings.TrimPrefix(err.Error(), "mail: ")))
		}
		if len(addrs) == 0 {
			return refuse("header %s: holds no address", key)
		}
		if key == "Sender" && len(addrs) > 1 {
			return refuse("header Sender: holds %d addresses; RFC 5322 section 3.6.2 allows one", len(addrs))
		}
		for _, a := range addrs {
			if !mayUse(a.Address) {
				return refuse("%s may not send as %s (header %s:); ask an administrator for Send As on that mailbox", user, clip(a.Address), key)
			}
		}
		if key == "From" && len(addrs) > 1 && !h.Has("Sender") {
			return refuse("header From: holds %d addresses and there is no Sender: header (RFC 5322 section 3.6.2)", len(addrs))
		}
	}
	return nil
}

// clip makes client text fit a reply line: printable ASCII only (RFC 5321
// section 4.2 reply text), at most 80 characters.
func clip(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s))
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

package smtpd

import (
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/address"
)

// This file holds what the receive connector's protocol switches
// (ChunkingEnabled, SmtpUtf8Enabled, SizeEnabled, ...) and its recipient
// rules (DefaultDomain, Reject*RecipientDomains) decide; conn.go asks.

// BODY values (RFC 6152, RFC 3030).
const (
	body7Bit       = "7BIT"
	body8BitMIME   = "8BITMIME"
	bodyBinaryMIME = "BINARYMIME"
)

// maxLine is the longest command line the connector takes.
func (c *conn) maxLine() int {
	if c.cs.rc.LongAddressesEnabled {
		return connector.LongCommandLine
	}
	return maxCommandLine
}

// bodyParam checks MAIL's BODY parameter against what EHLO offered and
// returns the body type, or the reply refusing it.
func (c *conn) bodyParam(v string) (string, *smtp.SMTPError) {
	rc := c.cs.rc
	if !rc.EightBitMimeEnabled && !rc.BinaryMimeOffered() {
		// RFC 5321 section 4.1.1.11: a parameter of an extension not offered.
		return "", &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: fmt.Sprintf(replyUnknownParameter, "BODY")}
	}
	switch t := strings.ToUpper(v); t {
	case body7Bit:
		return t, nil
	case body8BitMIME:
		if !rc.EightBitMimeEnabled {
			return "", &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "BODY=8BITMIME is not offered by this connector (EightBitMimeEnabled)"}
		}
		return t, nil
	case bodyBinaryMIME:
		if !rc.BinaryMimeOffered() {
			return "", &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "BODY=BINARYMIME is not offered by this connector (BinaryMimeEnabled with ChunkingEnabled)"}
		}
		return t, nil
	}
	return "", &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unknown BODY value"}
}

// notOffered is the refusal of a parameter whose extension the connector
// does not offer (RFC 5321 section 4.1.1.11).
func notOffered(param string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: fmt.Sprintf(replyUnknownParameter, param)}
}

// needUTF8 refuses a non-ASCII address in a transaction without SMTPUTF8
// (RFC 6531 section 3.5; 553 5.6.7 as RFC 6533 section 4 gives it).
func (c *conn) needUTF8(addr string) *smtp.SMTPError {
	if address.IsASCII(addr) || c.sess.utf8 {
		return nil
	}
	msg := "Non-ASCII address needs the SMTPUTF8 parameter of MAIL (RFC 6531)"
	if !c.cs.rc.SmtpUtf8Enabled {
		msg = "Non-ASCII addresses are not accepted: this connector does not offer SMTPUTF8 (SmtpUtf8Enabled)"
	}
	return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: msg}
}

// defaultDomain is the DomainName of the accepted domain the connector's
// DefaultDomain names (by Name or DomainName), or "".
func (c *conn) defaultDomain() string {
	dd := c.cs.rc.DefaultDomain
	if dd == "" || c.cs.st.domains == nil {
		return ""
	}
	for _, d := range c.cs.st.domains.All() {
		if (strings.EqualFold(d.Name, dd) || strings.EqualFold(d.DomainName, dd)) && !strings.HasPrefix(d.DomainName, "*") {
			return strings.ToLower(d.DomainName)
		}
	}
	return ""
}

// qualify adds the DefaultDomain to a forward-path without a domain
// ("<chris>"), as Exchange does for unqualified recipients.
func (c *conn) qualify(path string) string {
	if !strings.HasPrefix(path, "<") {
		return path
	}
	end := strings.IndexByte(path, '>')
	if end < 2 {
		return path
	}
	inner := path[1:end]
	if strings.ContainsAny(inner, "@:\" \t") {
		return path
	}
	dom := c.defaultDomain()
	if dom == "" {
		return path
	}
	return "<" + inner + "@" + dom + ">" + path[end+1:]
}

// recipientDomainRefusal applies RejectReservedTopLevelRecipientDomains,
// RejectReservedSecondLevelRecipientDomains (RFC 2606) and
// RejectSingleLabelRecipientDomains to a recipient's domain.
func recipientDomainRefusal(rc *connector.ReceiveConnector, domain string) *smtp.SMTPError {
	d := strings.ToLower(domain)
	refuse := func(why, param string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2},
			Message: fmt.Sprintf("Recipient domain %s %s; this connector refuses it (%s)", d, why, param)}
	}
	labels := strings.Split(d, ".")
	if rc.RejectSingleLabelRecipientDomains && len(labels) == 1 {
		return refuse("has a single label", "RejectSingleLabelRecipientDomains")
	}
	if rc.RejectReservedTopLevelRecipientDomains {
		switch labels[len(labels)-1] {
		case "test", "example", "invalid", "localhost":
			return refuse("is in a reserved top-level domain (RFC 2606)", "RejectReservedTopLevelRecipientDomains")
		}
	}
	if rc.RejectReservedSecondLevelRecipientDomains && len(labels) >= 2 {
		switch strings.Join(labels[len(labels)-2:], ".") {
		case "example.com", "example.net", "example.org":
			return refuse("is a reserved second-level domain (RFC 2606)", "RejectReservedSecondLevelRecipientDomains")
		}
	}
	return nil
}

// validEHLODomain reports whether the argument of HELO/EHLO is a domain
// name or an address literal (RFC 5321 section 4.1.1.1), for
// RequireEHLODomain.
func validEHLODomain(s string) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return len(s) > 2
	}
	return connector.ValidateFQDN(s) == nil
}

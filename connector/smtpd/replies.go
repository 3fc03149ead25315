package smtpd

import (
	"strings"

	"github.com/transportd/transportd/connector"
)

// The texts of our replies, in one place: Exchange's where Exchange has
// one (reply texts a client or an admin may know from Exchange's protocol
// logs), RFC 5321 section 4.2 for the codes and RFC 3463 for the enhanced
// status codes. TestGolden (testdata/golden) holds every reply as the
// client sees it.

type replyText struct {
	code int
	enh  string
	text string
}

const (
	replyGreeting         = "%s transportd ESMTP service ready at %s"
	replyReset            = "Resetting"
	replyNoop             = "OK"
	replyVrfy             = "Cannot VRFY user, but will accept message and attempt delivery"
	replyMailSyntax       = "Invalid arguments: use MAIL FROM:<address>"
	replyRcptSyntax       = "Invalid arguments: use RCPT TO:<address>"
	replySizeExceeded     = "Message size exceeds the fixed maximum message size (MaxMessageSize)"
	replyTooManyRcpts     = "Too many recipients (MaxRecipientsPerMessage %d)"
	replyAlreadyAuth      = "Already authenticated"
	replyTLSReady         = "SMTP server ready"
	replyUnknownParameter = "Unrecognized parameter %s"
)

var (
	replyUnknown       = replyText{500, "5.3.3", "Unrecognized command"}
	replyNotImpl       = replyText{502, "5.3.3", "Command not implemented"}
	replyHelloArg      = replyText{501, "5.5.4", "Invalid domain name"}
	replyTooManyErrors = replyText{421, "4.7.0", "Too many errors on this connection, closing transmission channel"}
	replyIdle          = replyText{421, "4.4.2", "Connection timed out (ConnectionInactivityTimeout), closing transmission channel"}
	replyNoHello       = replyText{503, "5.5.2", "Send hello first"}
	replyNoHelloTLS    = replyText{503, "5.5.2", "Send hello first: EHLO again after STARTTLS (RFC 3207 section 4.2)"}
	replyNoMail        = replyText{503, "5.5.2", "Need mail command"}
	replyNoRcpt        = replyText{503, "5.5.2", "Need rcpt command"}
	replyNestedMail    = replyText{503, "5.5.2", "Sender already specified"}
	replyMailOK        = replyText{250, "2.1.0", "Sender OK"}
	replyData          = replyText{354, "", "Start mail input; end with <CRLF>.<CRLF>"}
	replyTLSActive     = replyText{503, "5.5.1", "TLS is already active"}
	replyNoTLS         = replyText{500, "5.3.3", "Unrecognized command"}
	replyArgs          = replyText{501, "5.5.4", "Syntax error (no parameters allowed)"}
	replyBadBase64     = replyText{501, "5.5.2", "Cannot Base64-decode Client responses"}
	replyAuthCancelled = replyText{501, "5.0.0", "Authentication cancelled"}
	replyAuthNoMech    = replyText{501, "5.5.4", "Invalid arguments: AUTH needs a mechanism"}
)

// replyRcptOK is what an accepted recipient gets; the tracking log's
// RECEIVE event records the same text (connector.RecipientAcceptedReply).
var replyRcptOK = func() replyText {
	code, rest, _ := strings.Cut(connector.RecipientAcceptedReply, " ")
	enh, text, _ := strings.Cut(rest, " ")
	if code != "250" {
		panic("connector.RecipientAcceptedReply is not a 250 reply")
	}
	return replyText{250, enh, text}
}()

func (c *conn) replyQuit() string { return "Service closing transmission channel" }

package smtpd

// The texts of our replies, in one place. RFC 5321 section 4.2 fixes the
// codes; RFC 3463 the enhanced status codes; the texts are for humans.
// TestGolden (testdata/golden) holds every reply as the client sees it.

type replyText struct {
	code int
	enh  string
	text string
}

const (
	replyGreeting         = "%s transportd ESMTP service ready at %s"
	replyHelloArg         = "Domain/address argument required for HELO"
	replyReset            = "Session reset"
	replyNoop             = "I have successfully done nothing"
	replyVrfy             = "Cannot VRFY user, but will accept message"
	replyNotImplemented   = "%v command not implemented"
	replyMailSyntax       = "Was expecting MAIL arg syntax of FROM:<address>"
	replyRcptSyntax       = "Was expecting RCPT arg syntax of TO:<address>"
	replySizeExceeded     = "Max message size exceeded"
	replyUnknownMailParam = "Unknown MAIL FROM argument"
	replyUnknownRcptParam = "Unknown RCPT TO argument"
	replyTooManyRcpts     = "Maximum limit of %v recipients reached"
	replyAlreadyAuth      = "Already authenticated"
	replyTLSReady         = "SMTP server ready"
)

var (
	replyEmptyLine     = replyText{500, "5.5.2", "Error: bad syntax"}
	replyBadCommand    = replyText{501, "5.5.2", "Bad command"}
	replyUnknown       = replyText{500, "5.5.2", "Syntax errors, %v command unrecognized"}
	replyTooManyErrors = replyText{500, "5.5.1", "Too many errors. Quiting now"}
	replyIdle          = replyText{421, "4.4.2", "Idle timeout, bye bye"}
	replyNoHello       = replyText{502, "5.5.1", "Please introduce yourself first."}
	replyNoMail        = replyText{502, "5.5.1", "Missing MAIL FROM command."}
	replyNoRcpt        = replyText{502, "5.5.1", "Missing RCPT TO command."}
	replyMailOK        = replyText{250, "2.0.0", "Roger, accepting mail from <%v>"}
	replyRcptOK        = replyText{250, "2.0.0", "I'll make sure <%v> gets this"}
	replyData          = replyText{354, "", "Go ahead. End your data with <CR><LF>.<CR><LF>"}
)

func (c *conn) replyQuit() string { return "Bye" }

package smtpd

import (
	"context"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Connection filtering (Exchange's Connection Filtering agent): the IP
// allow list, the IP block list and the block list providers decide
// whether an anonymous client may send on a connector with
// ConnectionFilteringEnabled.
//
// The refusal comes at RCPT, as in Exchange, not at connect: the client
// has then said who it is and what it sends (HELO, MAIL FROM, RCPT TO),
// and the logs hold that envelope, which is what an admin needs to answer
// "why did my partner's mail not arrive". An authenticated session is
// never refused: a user who logged on is not judged by the address it
// connects from (a hotel, a mobile network on a block list).

// ConnFilterTimeout bounds the block list lookups of one client.
const ConnFilterTimeout = 5 * time.Second

// dnsblCacheSize caps the providers' answers kept.
const dnsblCacheSize = 20000

// connFilterResult is the filter's verdict for a connection.
type connFilterResult struct {
	refusal  *smtp.SMTPError // nil: the client may send
	provider bool            // the refusal is a provider's (BypassedRecipients are spared)
}

// connectionFilter returns the refusal for a recipient when the client is
// refused by connection filtering, else nil. The filter is asked once per
// connection, at the first RCPT.
func (s *session) connectionFilter(rcpt string) error {
	internal := !s.rc.ConnectionFilteringEnabled
	if s.user != "" || s.st.filter == nil || !s.st.filter.Applies(internal) {
		return nil
	}
	c := s.conn
	if c.filtered == nil {
		ctx, cancel := context.WithTimeout(s.srv.ctx, ConnFilterTimeout)
		v := s.st.filter.Check(ctx, s.remote.Addr(), internal, s.srv.dnsbl, time.Now())
		cancel()
		c.filtered = &connFilterResult{provider: v.Provider}
		for _, f := range v.Failures {
			// A DNS failure lets the mail through: logged, never refused.
			s.log.Warn("block list provider could not be asked; the client is not refused for it", "problem", f)
		}
		if v.Blocked {
			c.filtered.refusal = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: v.Response}
			s.log.Info("client refused by connection filtering", "reason", v.Reason, "helo", s.helo, "from", s.from)
			c.plog.Info("connection filtering: "+v.Reason, "")
		} else if v.Reason != "" {
			s.log.Debug("connection filtering", "reason", v.Reason)
		}
	}
	if r := c.filtered.refusal; r != nil {
		if c.filtered.provider && s.st.filter.Bypassed(bareAddress(rcpt)) {
			s.log.Info("recipient accepted from a listed client: it is in BypassedRecipients", "rcpt", strings.TrimSpace(rcpt))
			return nil
		}
		s.log.Info("recipient refused by connection filtering", "rcpt", strings.TrimSpace(rcpt), "from", s.from)
		return r
	}
	return nil
}

// bareAddress is the address of a RCPT argument's path, for the bypass
// list ("<postmaster@contoso.com>" -> "postmaster@contoso.com").
func bareAddress(to string) string {
	to = strings.TrimSpace(to)
	if i := strings.IndexByte(to, '>'); i >= 0 {
		to = to[:i]
	}
	return strings.TrimPrefix(to, "<")
}

package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/connector/smtpd"
	"github.com/transportd/transportd/policies/dnsclient"
	"github.com/transportd/transportd/policies/msgauth"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/dkimsign"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// Message authentication (issue 13) happens where a message enters the
// queue, after the receive connector has added its Received: header and
// before the message is stored and acknowledged:
//
//   - DKIM signing there means the signature is made once, by the server
//     that knows the sender authenticated, and every copy (each next hop,
//     each retry, local mailboxes too) carries the same one; signing at
//     delivery would sign again at each attempt and would need the
//     authentication facts to travel with the queued message.
//   - Verification must be there: a DMARC p=reject is refused at end of
//     data (550 5.7.1), before the 250 that makes us responsible for the
//     message, and the Authentication-Results field must be in the stored
//     copy.
//
// Both need the whole message, so they hold it in memory (up to the
// connector's MaxMessageSize) only when they apply: for signing when the
// sender may be signed for and the From: domain has an enabled signing
// configuration; for verification on connectors with
// SenderAuthenticationEnabled. Other mail streams to the queue as before.

// authCheckTimeout bounds the DNS work of the checks of one message.
const authCheckTimeout = 30 * time.Second

// mailAuth signs and verifies for the service.
type mailAuth struct{ s *Service }

// receiveConnector returns the connector called name in cfg, or nil.
func receiveConnector(cfg *config.Config, name string) *connector.ReceiveConnector {
	for i := range cfg.ReceiveConnectors {
		if cfg.ReceiveConnectors[i].Name == name {
			return &cfg.ReceiveConnectors[i]
		}
	}
	return nil
}

// onReceive signs or verifies a message a receive connector accepted. It
// returns the body to queue and the verdict for message tracking, or an
// SMTP error to refuse the message with.
func (a mailAuth) onReceive(ctx context.Context, msg *smtpd.Message, body io.Reader) (io.Reader, string, error) {
	cfg := a.s.Config()
	rc := receiveConnector(cfg, msg.Connector)
	// Sign what our own users and applications send: authenticated
	// sessions, and relay connectors scoped to the admin's hosts. Never
	// what anonymous senders pass through from the Internet.
	sign := len(cfg.DkimSigningConfigs) > 0 && (msg.AuthUser != "" || (rc != nil && rc.AnonymousRelay))
	verify := msg.AuthUser == "" && rc != nil && rc.SenderAuthenticationEnabled && !msg.BypassAntiSpam
	if !sign && !verify {
		return body, "", nil
	}
	buf, err := readLimited(body, msg.MaxMessageLen)
	if err != nil {
		return nil, "", err
	}
	if int64(len(buf)) > msg.MaxMessageLen && msg.MaxMessageLen > 0 {
		return bytes.NewReader(buf), "", nil // the queue refuses it as too large
	}
	if sign {
		return bytes.NewReader(a.sign(cfg, buf)), "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, authCheckTimeout)
	defer cancel()
	ours := []string{cfg.Server.Fqdn}
	if rc.Fqdn != "" {
		ours = append(ours, rc.Fqdn)
	}
	buf, removed := msgauth.StripOwnResults(buf, ours...)
	if removed > 0 {
		a.s.log.Info("removed Authentication-Results fields that claimed our name", "queue_id", msg.ID, "count", removed)
	}
	res, err := dnsclient.NewResolver(cfg.Transport.ExternalDNSServers)
	if err != nil {
		res = nil // refused at set time; the system resolver meanwhile
	}
	ck := &msgauth.Checker{Resolver: res, AuthServID: cfg.Server.Fqdn}
	in := msgauth.Input{IP: msg.RemoteAddr.Addr().Unmap(), Helo: msg.HeloName, MailFrom: msg.From, Message: buf}
	v := ck.Check(ctx, in)
	summary := v.Summary()
	a.s.log.Debug("sender authentication", "queue_id", msg.ID, "results", summary)
	hdr := ck.Header(v, in)
	if rc.HonorDmarcPolicy {
		switch v.Action {
		case msgauth.Reject:
			reply := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: "Message rejected by the sender domain's DMARC policy: " + v.Reason}
			a.trackRefusal(msg, reply, summary)
			return nil, summary, reply
		case msgauth.Quarantine:
			// Dovecot's Sieve (and most filters) file on X-Spam-Flag.
			hdr += "X-Spam-Flag: YES\r\n"
		}
	}
	return io.MultiReader(strings.NewReader(hdr), bytes.NewReader(buf)), summary, nil
}

// readLimited reads all of r, but at most limit+1 bytes when limit > 0.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	return io.ReadAll(r)
}

// sign returns msg with a DKIM-Signature in front when its From: domain
// has an enabled signing configuration; otherwise msg. A key that cannot
// be read is logged and the message goes out unsigned: nothing is lost
// over a signature.
func (a mailAuth) sign(cfg *config.Config, msg []byte) []byte {
	dom := msgauth.FromDomain(msg)
	d := cfg.DkimFor(dom)
	if d == nil {
		return msg
	}
	sel := d.ActiveSelector(time.Now())
	key, err := dkimsign.LoadKey(dkimsign.KeyPath(cfg.DkimKeyDir(), d.Domain, sel))
	if err == nil {
		var sig string
		if sig, err = dkimsign.Sign(msg, strings.ToLower(d.Domain), sel, key); err == nil {
			return append([]byte(sig), msg...)
		}
	}
	a.s.log.Error("DKIM signing failed; the message goes out unsigned", "domain", d.Domain, "selector", sel, "err", err)
	return msg
}

// signBytes signs a message from the pickup folder or sendmail.
func (s *Service) signBytes(msg []byte) []byte {
	cfg := s.Config()
	if len(cfg.DkimSigningConfigs) == 0 {
		return msg
	}
	return mailAuth{s}.sign(cfg, msg)
}

// trackRefusal records a message refused for its DMARC verdict in message
// tracking, as a FAIL event of the SMTP source.
func (a mailAuth) trackRefusal(msg *smtpd.Message, reply *smtp.SMTPError, summary string) {
	a.s.log.Info("message refused by DMARC policy", "from", msg.From, "client", msg.RemoteAddr.Addr(), "results", summary)
	if !a.s.trackingOn.Load() {
		return
	}
	ev := tracking.Event{Time: time.Now().UTC(), ClientIP: msg.RemoteAddr.Addr().String(), ClientHostname: msg.HeloName,
		ServerIP: msg.LocalAddr.Addr().String(), ServerHostname: a.s.Config().Server.Fqdn, SourceContext: msg.SessionID,
		ConnectorID: msg.Connector, Source: tracking.SourceSMTP, EventID: tracking.EventFail, InternalMessageID: msg.ID,
		Sender: msg.From, ReturnPath: msg.From, MessageInfo: "AuthenticationResults=" + summary}
	for _, r := range msg.Recipients {
		ev.Recipients = append(ev.Recipients, r.Address)
		ev.RecipientStatus = append(ev.RecipientStatus, fmt.Sprintf("%d %d.%d.%d %s", reply.Code,
			reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2], reply.Message))
	}
	a.s.tracking.Write(ev)
}

package smtpd

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/transportd/transportd/connector/protolog"
)

// implicitTLSHandshakeTimeout bounds the TLS handshake of an implicit-TLS
// connection, as STARTTLS's handshake is bounded.
const implicitTLSHandshakeTimeout = 30 * time.Second

// implicitTLS runs the TLS handshake a connector with ImplicitTls does
// before anything else (RFC 8314 section 3: TLS from the first byte, then
// the 220 greeting inside it). On success the connection continues exactly
// as after STARTTLS: the same certificate selection (SNI, then the
// connector's TlsCertificateName and Fqdn), the TLS state set for AUTH and
// RequireTLS, no STARTTLS in EHLO. It reports false when the connection
// must be closed: no certificate to serve (a plain-text reply would only
// garble the client's handshake, so the reason goes to the logs) or a
// failed handshake.
func (c *conn) implicitTLS() bool {
	if c.tlsCfg == nil {
		c.srv.deps.Logger.Error("implicit TLS connection closed: the connector has no certificate to serve",
			"connector", c.cs.rc.Name, "remote", c.remoteIP)
		c.plog.Info("implicit TLS connection closed: no certificate to serve", "")
		return false
	}
	tc := tls.Server(c.raw, c.tlsCfg)
	ctx, cancel := context.WithTimeout(c.srv.ctx, implicitTLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.plog.Info("TLS negotiation failed: "+err.Error(), "")
		return false
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.plog.Info(protolog.TLSInfo(st), "")
	if c.onTLS != nil {
		c.onTLS(&st)
	}
	c.setStream(tc)
	return true
}

// implicitTLSForRefusal wraps c in TLS, for a connection an implicit-TLS
// connector refuses before the session (a connection limit): a reply in
// the clear would reach the client as a garbled handshake, so it gets
// the 421 inside TLS, as a client on 587 gets it in the clear. Without a
// certificate, or when the handshake fails, c is returned as it is (the
// reply is then only for the log of a client that reads it).
func (s *Server) implicitTLSForRefusal(c net.Conn, cs *connServer) net.Conn {
	if cs.tls == nil {
		return c
	}
	if cert, _ := s.deps.Certs.Select(cs.rc.TlsCertificateName, cs.rc.Fqdn, time.Now()); cert == nil {
		return c
	}
	tc := tls.Server(c, cs.tls)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return c
	}
	return tc
}

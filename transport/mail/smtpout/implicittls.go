package smtpout

import (
	"crypto/tls"
	"net"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/transport/mail/delivery"
)

// ImplicitTLSPort is the submissions port of RFC 8314 section 7.3: a smart
// host reached on it speaks TLS from the first byte, without STARTTLS.
const ImplicitTLSPort = "465"

// markImplicitTLS sets implicitTLS on the hosts dialled on port 465 (or
// the port tests choose with s.implicitPort).
func (s *Sender) markImplicitTLS(hs []host) {
	want := ImplicitTLSPort
	if s.implicitPort != "" {
		want = s.implicitPort
	}
	for i := range hs {
		if _, p, err := net.SplitHostPort(hs[i].addr); err == nil && p == want {
			hs[i].implicitTLS = true
		}
	}
}

// implicitTLS runs the TLS handshake on a new connection to a port-465
// host (RFC 8314 section 3.3), with the connector's TlsAuthLevel checks,
// before the greeting is read.
func (s *Sender) implicitTLS(h host, raw net.Conn, psess *protolog.Session) (*tls.Conn, *delivery.Error) {
	tc := tls.Client(raw, s.tlsConfig(h))
	if err := tc.Handshake(); err != nil {
		// X.7.5 Cryptographic failure (RFC 3463).
		return nil, tempf(h.name, [3]int{4, 7, 5}, "TLS with %s (implicit TLS on port %s) failed: %v", h.name, ImplicitTLSPort, err)
	}
	st := tc.ConnectionState()
	psess.Info(protolog.TLSInfo(st), "")
	if s.onTLS != nil {
		s.onTLS(st.Version)
	}
	return tc, nil
}

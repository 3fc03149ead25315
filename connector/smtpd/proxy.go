package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// The PROXY protocol (HAProxy's "PROXY protocol" specification, versions
// 1 and 2): a load balancer in front of a receive connector opens its own
// TCP connection to us and, before any byte of the client's, sends one
// header naming the client's address. On a binding where a connector has
// ProxyProtocolEnabled, a connection from one of its
// ProxyProtocolTrustedAddresses must start with that header; the client
// address in it then is the remote address of the connection for
// connector selection (RemoteIPRanges), limits, policies, block lists, the
// logs and our Received: header. From anyone else a PROXY header is a
// forgery and is refused. go-proxyproto parses the header.

// ProxyHeaderTimeout bounds the wait for a trusted balancer's PROXY
// header; HAProxy sends it together with the connection.
const ProxyHeaderTimeout = 10 * time.Second

// proxiedConn is a connection from a load balancer, seen as the client's:
// RemoteAddr is the address from the PROXY header, and Read first returns
// what was read past the header.
type proxiedConn struct {
	net.Conn
	br     *bufio.Reader
	remote net.Addr
}

func (p *proxiedConn) Read(b []byte) (int, error) {
	if p.br != nil {
		if p.br.Buffered() > 0 {
			return p.br.Read(b)
		}
		p.br = nil // drained: read the socket directly
	}
	return p.Conn.Read(b)
}

func (p *proxiedConn) RemoteAddr() net.Addr { return p.remote }

// readProxyHeader reads the PROXY header a trusted balancer must send
// first. It returns the connection as the client's, or false when the
// header is missing or bad (the caller closes the connection; there is
// no SMTP client to reply to yet). A LOCAL header (the balancer's own
// health check) keeps the balancer's address.
func (s *Server) readProxyHeader(c net.Conn, local, balancer netip.AddrPort) (net.Conn, bool) {
	c.SetReadDeadline(time.Now().Add(ProxyHeaderTimeout))
	br := bufio.NewReader(c)
	h, err := proxyproto.Read(br)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		reason := "bad PROXY protocol header"
		var ne net.Error
		switch {
		case errors.Is(err, proxyproto.ErrNoProxyProtocol):
			reason = "no PROXY protocol header"
		case errors.As(err, &ne) && ne.Timeout():
			reason = fmt.Sprintf("no PROXY protocol header within %v", ProxyHeaderTimeout)
		}
		s.deps.Logger.Warn("connection from a trusted load balancer closed: "+reason+" (ProxyProtocolEnabled expects one first)",
			"local", local.String(), "balancer", balancer.String(), "err", err)
		return nil, false
	}
	pc := &proxiedConn{Conn: c, br: br, remote: c.RemoteAddr()}
	if h.Command.IsLocal() || !h.TransportProtocol.IsStream() {
		s.deps.Logger.Debug("PROXY header without a client address (LOCAL); the balancer's address stays", "balancer", balancer.String())
		return pc, true
	}
	src, _, ok := h.TCPAddrs()
	if !ok {
		s.deps.Logger.Warn("connection from a trusted load balancer closed: PROXY header without a TCP client address", "balancer", balancer.String())
		return nil, false
	}
	if a, ok := netip.AddrFromSlice(src.IP); ok {
		src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a.Unmap(), uint16(src.Port)))
	}
	pc.remote = src
	s.deps.Logger.Debug("PROXY protocol header", "balancer", balancer.String(), "client", src.String(), "version", int(h.Version))
	return pc, true
}

// proxyV1 and proxyV2 begin a PROXY header of version 1 and 2.
var (
	proxyV1 = []byte("PROXY ")
	proxyV2 = proxyproto.SIGV2
)

// refuseUntrustedProxy looks at the first bytes a client sends: a PROXY
// header from someone who is not a trusted balancer of this binding
// would claim another client's address, so it is refused with 554 5.7.1
// and the connection closed. It reports whether it refused. It waits only
// as long as reading the first command would.
func (c *conn) refuseUntrustedProxy() bool {
	if _, err := c.br.Peek(1); err != nil {
		return false // readLine reports it
	}
	n := min(c.br.Buffered(), len(proxyV2))
	b, _ := c.br.Peek(n)
	switch {
	case len(b) >= len(proxyV1) && bytes.Equal(b[:len(proxyV1)], proxyV1):
		c.plog.Command("PROXY (protocol version 1 header)")
	case len(b) == len(proxyV2) && bytes.Equal(b, proxyV2):
		c.plog.Command("PROXY (protocol version 2 header)")
	default:
		return false
	}
	c.proxyRefused()
	return true
}

// proxyRefused answers a PROXY header from an untrusted client.
func (c *conn) proxyRefused() {
	c.srv.deps.Logger.Warn("PROXY protocol header from a client that is not a trusted load balancer: refused",
		"connector", c.cs.rc.Name, "remote", c.remoteIP, "session", c.sessionID)
	c.closeAfter = true
	c.reply(replyProxyUntrusted.code, replyProxyUntrusted.enh, fmt.Sprintf(replyProxyUntrusted.text, c.remoteIP))
	c.flush()
}

// replyProxyUntrusted refuses a PROXY protocol header from an address
// that is not a trusted load balancer.
var replyProxyUntrusted = replyText{554, "5.7.1", "PROXY protocol header refused: %s is not a trusted load balancer of this connector (ProxyProtocolTrustedAddresses), closing connection"}

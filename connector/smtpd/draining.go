package smtpd

import (
	"fmt"
	"net"
	"time"
)

// Draining: a server that is being taken out of service (a cluster member
// leaving its cluster) keeps its listeners open and refuses mail with a
// proper reply, as Exchange does while its transport component drains,
// instead of refusing connections at the TCP level, which a client
// cannot tell from a dead host.
//
//   - A new connection gets "421 4.3.2 <fqdn> Service not active" and is
//     closed (RFC 5321 section 3.8: 421 when the service must shut down;
//     RFC 3463: X.3.2 "System not accepting network messages").
//   - A session under way gets "451 4.3.2" at its next MAIL FROM; a
//     message already past MAIL FROM completes normally.

// SetDraining switches draining on or off. It is safe to call at any
// time, from any goroutine.
func (s *Server) SetDraining(on bool) { s.draining.Store(on) }

// Draining reports whether the server is draining (SetDraining).
func (s *Server) Draining() bool { return s.draining.Load() }

// refuseDraining answers a new connection of connector cs while the
// server drains; true when it did (the connection is closed).
func (s *Server) refuseDraining(c net.Conn, cs *connServer) bool {
	if !s.draining.Load() {
		return false
	}
	s.deps.Logger.Info("connection refused: this server is not taking mail (draining)", "connector", cs.rc.Name, "remote", c.RemoteAddr().String())
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if cs.rc.ImplicitTls {
		c = s.implicitTLSForRefusal(c, cs)
	}
	fmt.Fprintf(c, "421 4.3.2 %s Service not active, closing transmission channel\r\n", cs.rc.Fqdn)
	c.Close()
	return true
}

// mailWhileDraining answers MAIL FROM in a session under way while the
// server drains; true when it did.
func (c *conn) mailWhileDraining() bool {
	if !c.srv.draining.Load() {
		return false
	}
	c.reply(451, "4.3.2", fmt.Sprintf("%s Service not active, try again later", c.cs.rc.Fqdn))
	return true
}

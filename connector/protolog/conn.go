package protolog

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
)

// maxLine bounds a partial line kept while waiting for its end; a longer
// line is logged in pieces.
const maxLine = 4096

// TLSInfo describes a negotiated TLS session for an information event.
func TLSInfo(st tls.ConnectionState) string {
	return fmt.Sprintf("TLS protocol %s negotiated using cipher suite %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
}

// Client wraps the connection of an SMTP client (the send side): every
// line written is logged as a command and every line read as a reply.
// Message data is not logged. A nil Session returns c unchanged.
func (s *Session) Client(c net.Conn) net.Conn {
	if s == nil {
		return c
	}
	return &clientConn{Conn: c, s: s}
}

type clientConn struct {
	net.Conn
	s        *Session
	rbuf     []byte
	wbuf     []byte
	dataLen  int  // bytes in the current message data line
	dataTail byte // last byte of the current data line before the LF
	dataDot  bool // the current data line started with "."
}

// Read implements net.Conn.
func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rbuf = append(c.rbuf, p[:n]...)
	for {
		i := bytes.IndexByte(c.rbuf, '\n')
		if i < 0 {
			break
		}
		c.s.Reply(string(c.rbuf[:i+1]))
		c.rbuf = append(c.rbuf[:0], c.rbuf[i+1:]...)
	}
	if len(c.rbuf) > maxLine {
		c.s.Reply(string(c.rbuf))
		c.rbuf = c.rbuf[:0]
	}
	return n, err
}

// Write implements net.Conn.
func (c *clientConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written(p[:n])
	return n, err
}

func (c *clientConn) written(p []byte) {
	for len(p) > 0 {
		if c.s.inData() {
			p = c.skipData(p)
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.wbuf = append(c.wbuf, p...)
			if len(c.wbuf) > maxLine {
				c.s.Command(string(c.wbuf))
				c.wbuf = c.wbuf[:0]
			}
			return
		}
		c.wbuf = append(c.wbuf, p[:i+1]...)
		c.s.Command(string(c.wbuf))
		c.wbuf = c.wbuf[:0]
		p = p[i+1:]
	}
}

// skipData consumes message data up to and including the final ".";
// it returns what follows.
func (c *clientConn) skipData(p []byte) []byte {
	for i, b := range p {
		if b == '\n' {
			end := c.dataDot && (c.dataLen == 1 || (c.dataLen == 2 && c.dataTail == '\r'))
			c.dataLen, c.dataDot = 0, false
			if end {
				c.s.endData()
				return p[i+1:]
			}
			continue
		}
		if c.dataLen == 0 {
			c.dataDot = b == '.'
		}
		c.dataLen++
		c.dataTail = b
	}
	return nil
}

func (s *Session) inData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataMode
}

func (s *Session) endData() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataMode = false
}

package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportd/transportd/connector/protolog"
)

// maxCommandLine bounds an SMTP command line. RFC 5321 section 4.5.3.1.4
// allows 512 octets; go-smtp allows 2000. Longer lines are refused before
// anything buffers them.
const maxCommandLine = 4096

// shimConn sits between the TCP socket and go-smtp. go-smtp parses the
// commands and runs the session; the shim owns what go-smtp cannot be told
// per connector:
//
//   - the 220 greeting (Fqdn or the connector's Banner) and the first line
//     of the EHLO reply, which RFC 5321 section 4.1.1.1 says carries the
//     server's domain;
//   - the capability list (STARTTLS only when a certificate is usable,
//     CHUNKING withheld);
//   - STARTTLS itself (RFC 3207): the shim answers 220, runs the handshake
//     with the connector's live certificate, and from then on go-smtp reads
//     plaintext from the TLS session. Data a client pipelined after
//     STARTTLS is discarded (RFC 3207 section 5; CVE-2011-0411), and the
//     connection is handed to a fresh go-smtp session (see handOver), so
//     nothing learned before TLS survives it (RFC 3207 section 4.2);
//   - closing the connection right after a reply (too many logon failures).
//
// go-smtp processes one command at a time and reads exactly one line per
// Read call from the shim in command mode, so the shim always knows which
// reply belongs to which command. In DATA mode bytes pass through until the
// same CRLF.CRLF end marker go-smtp detects.
type shimConn struct {
	raw    net.Conn
	conn   net.Conn // raw, or the TLS session over raw
	br     *bufio.Reader
	tlsCfg *tls.Config // nil: STARTTLS is not offered

	fqdn       string
	banner     string
	postmaster string // postmaster@<default accepted domain>, or ""
	remote     string
	release    func()

	greeted    bool
	capturing  bool
	capLines   []string
	pendingTLS bool // STARTTLS forwarded as NOOP; its reply becomes our 220
	startTLS   bool // run the handshake on the next Read
	injected   []byte
	dataMode   bool
	dataState  int

	tlsState    *tls.ConnectionState
	needEHLO    bool // STARTTLS done, no EHLO since (RFC 3207 section 4.2)
	closeAfter  bool
	pending     []byte // replies held back while pipelined commands wait
	handshakeTO time.Duration

	closeOnce sync.Once

	// handOff, when set, gives the connection to a new go-smtp session of
	// the same connector; false means it could not (the server is
	// closing). See handOver.
	handOff func(net.Conn) bool
	// detaching is set while the go-smtp session that ran STARTTLS ends:
	// its Close hands the connection over instead of closing it. Atomic
	// because the ConnectionTimeout timer may call Close at any time.
	detaching atomic.Bool
	regreet   bool // swallow the greeting of the new go-smtp session

	sessionID string
	plog      *protolog.Session // nil: the connector does not log the protocol
	onTLS     func(*tls.ConnectionState)
}

func newShim(raw net.Conn, tlsCfg *tls.Config, fqdn, banner string, release func()) *shimConn {
	remote := raw.RemoteAddr().String()
	if ta, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		remote = ta.IP.String()
	}
	return &shimConn{
		raw: raw, conn: raw, br: bufio.NewReaderSize(raw, maxCommandLine),
		tlsCfg: tlsCfg, fqdn: fqdn, banner: banner, remote: remote, release: release,
		handshakeTO: 30 * time.Second,
	}
}

// TLS returns the TLS state once STARTTLS has completed, else nil.
func (s *shimConn) TLS() *tls.ConnectionState { return s.tlsState }

// closeAfterNextWrite makes the connection close right after the next reply.
func (s *shimConn) closeAfterNextWrite() { s.closeAfter = true }

func (s *shimConn) Read(p []byte) (n int, err error) {
	// go-smtp recovers panics in command handlers but not in reads; a bug
	// here must cost one connection, never the daemon.
	defer func() {
		if r := recover(); r != nil {
			s.Close()
			n, err = 0, fmt.Errorf("internal error reading from %s: %v", s.remote, r)
		}
	}()
	if s.startTLS {
		s.startTLS = false
		if err := s.handshake(); err != nil {
			return 0, err
		}
		// End this go-smtp session; its Close hands the connection over.
		s.detaching.Store(true)
		return 0, io.EOF
	}
	if len(s.injected) > 0 {
		n := copy(p, s.injected)
		s.injected = s.injected[n:]
		return n, nil
	}
	// Never wait for the client while holding replies it waits for.
	if len(s.pending) > 0 && (s.dataMode || !s.completeLineBuffered()) {
		if err := s.flush(); err != nil {
			return 0, err
		}
	}
	if s.dataMode {
		return s.readData(p)
	}
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.plog.Info(fmt.Sprintf("command line longer than %d octets; closing the connection", maxCommandLine), "")
		fmt.Fprintf(s.conn, "500 5.5.2 Command line too long (limit %d octets), closing connection\r\n", maxCommandLine)
		s.Close()
		return 0, io.EOF
	}
	if len(line) == 0 {
		return 0, err
	}
	s.plog.Command(string(line))
	out := line
	verb := strings.ToUpper(strings.TrimRight(firstWord(line), "\r\n"))
	switch verb {
	case "STARTTLS":
		if s.tlsCfg != nil && s.tlsState == nil && strings.TrimSpace(string(line)) != "" && len(strings.Fields(string(line))) == 1 {
			// Anything pipelined after STARTTLS was sent in the clear
			// and must not be taken as if it came over TLS.
			s.br.Discard(s.br.Buffered())
			s.pendingTLS = true
			out = []byte("NOOP\r\n")
		} else if s.tlsState != nil {
			out = []byte("XSTARTTLS-AGAIN\r\n")
		}
	case "BDAT":
		// CHUNKING is not advertised (RFC 3030); without it BDAT is an
		// unknown command and its chunk reads as commands.
		out = []byte("BDAT\r\n")
	case "EHLO", "HELO":
		s.needEHLO = false
	case "RCPT":
		// RFC 5321 section 4.5.1: RCPT TO:<Postmaster> without a domain
		// must be accepted; go-smtp wants a domain, so name ours.
		if s.postmaster != "" {
			if i := indexASCIIFold(line, "<postmaster>"); i >= 0 {
				out = []byte(string(line[:i]) + "<" + s.postmaster + ">" + string(line[i+len("<postmaster>"):]))
			}
		}
	}
	if len(out) > len(p) {
		n := copy(p, out)
		s.injected = append(s.injected[:0], out[n:]...)
		return n, nil
	}
	return copy(p, out), nil
}

// indexASCIIFold finds lower-case ASCII needle in b, ignoring ASCII case.
func indexASCIIFold(b []byte, needle string) int {
	for i := 0; i+len(needle) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

func firstWord(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// readData passes message data through while tracking the end-of-data
// marker with exactly the state machine of go-smtp's data reader (only
// CRLF "." CRLF ends it; a bare CR or LF never starts a line), so that the
// shim and go-smtp always agree where the data ends. It scans what is
// already buffered in one tight loop rather than byte by byte.
func (s *shimConn) readData(p []byte) (int, error) {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	n := 0
	for n < len(p) {
		avail := s.br.Buffered()
		if avail == 0 {
			if n > 0 {
				return n, nil // hand over what we have before blocking
			}
			if _, err := s.br.Peek(1); err != nil {
				return 0, err
			}
			avail = s.br.Buffered()
		}
		buf, _ := s.br.Peek(min(avail, len(p)-n))
		st := s.dataState
		k := 0
		ended := false
		for k < len(buf) && !ended {
			c := buf[k]
			k++
			switch st {
			case beginLine:
				switch c {
				case '.':
					st = dot
				case '\r':
					st = cr
				default:
					st = data
				}
			case dot:
				if c == '\r' {
					st = dotCR
				} else {
					st = data
				}
			case dotCR:
				if c == '\n' {
					ended = true
					st = beginLine
				} else {
					st = data
				}
			case cr:
				if c == '\n' {
					st = beginLine
				} else {
					st = data
				}
			case data:
				if c == '\r' {
					st = cr
				}
			}
		}
		copy(p[n:], buf[:k])
		n += k
		s.br.Discard(k)
		s.dataState = st
		if ended {
			s.dataMode = false
			return n, nil
		}
	}
	return n, nil
}

func (s *shimConn) handshake() error {
	tc := tls.Server(s.raw, s.tlsCfg)
	ctx, cancel := context.WithTimeout(context.Background(), s.handshakeTO)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.plog.Info("TLS negotiation failed: "+err.Error(), "")
		s.Close()
		return fmt.Errorf("TLS handshake with %s: %w", s.remote, err)
	}
	st := tc.ConnectionState()
	s.tlsState = &st
	s.plog.Info(protolog.TLSInfo(st), "")
	if s.onTLS != nil {
		s.onTLS(&st)
	}
	s.conn = tc
	s.br = bufio.NewReaderSize(tc, maxCommandLine)
	s.needEHLO = true
	return nil
}

// handOver gives the connection, now under TLS, to a fresh go-smtp session.
//
// RFC 3207 section 4.2: after the handshake "the server MUST discard any
// knowledge obtained from the client, such as the argument to the EHLO
// command, which was not obtained from the TLS negotiation itself". That
// knowledge is spread over go-smtp's connection (its HELO name and its
// private "already authenticated" flag) and our session (the AUTH
// identity, logon failures, the envelope). Resetting each piece by hand
// would miss the next one added; go-smtp itself, on its own STARTTLS path,
// ends the session and clears its state. So we end the whole go-smtp
// session at once: Read returns EOF to it, and its Close lands here, which
// passes the connection to a new go-smtp session of the same connector.
// That session starts from nothing: a client must send EHLO and, to relay,
// AUTH again. Its greeting is not sent (the client already had ours and
// the 220 to STARTTLS).
func (s *shimConn) handOver() {
	s.regreet = true
	s.injected = nil
	if s.handOff == nil || !s.handOff(s) {
		s.Close()
	}
}

func (s *shimConn) Write(b []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.Close()
			n, err = 0, fmt.Errorf("internal error writing to %s: %v", s.remote, r)
		}
	}()
	line := string(b)
	out := b
	switch {
	case !s.greeted:
		s.greeted = true
		out = []byte(s.greeting() + "\r\n")
	case s.regreet:
		s.regreet = false // the new go-smtp session's greeting; see handOver
		return len(b), nil
	case s.needEHLO && strings.HasPrefix(line, "502 5.5.1 Please introduce yourself first"):
		out = []byte("503 5.5.1 Send EHLO again after STARTTLS (RFC 3207 section 4.2)\r\n")
	case s.pendingTLS:
		s.pendingTLS = false
		s.startTLS = true
		out = []byte("220 2.0.0 SMTP server ready\r\n")
	case s.capturing || strings.HasPrefix(line, "250-Hello "):
		s.capturing = true
		s.capLines = append(s.capLines, strings.TrimRight(line, "\r\n"))
		if !strings.HasPrefix(line, "250 ") {
			return len(b), nil
		}
		s.capturing = false
		out = []byte(s.ehloReply())
		s.capLines = nil
	case strings.HasPrefix(line, "250 2.0.0 Hello "), strings.HasPrefix(line, "250 Hello "):
		out = []byte(fmt.Sprintf("250 %s Hello [%s]\r\n", s.fqdn, s.remote))
	case strings.HasPrefix(line, "235 2.0.0"):
		out = []byte("235 2.7.0 Authentication successful\r\n") // RFC 4954 section 6
	case strings.HasPrefix(line, "354"):
		s.dataMode = true
		s.dataState = 0
	case strings.HasPrefix(line, "500 5.5.2 Syntax errors, XSTARTTLS-AGAIN"):
		out = []byte("503 5.5.1 TLS is already active\r\n")
	}
	err = s.send(out)
	if s.plog != nil {
		for _, l := range strings.SplitAfter(string(out), "\n") {
			if l != "" {
				s.plog.Reply(l)
			}
		}
	}
	if s.closeAfter {
		s.Close()
	}
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// send writes a reply, or holds a positive reply back while the client has
// already sent its next command: with PIPELINING (RFC 2920 section 3.1) the
// replies to a command group then leave together in one write, once there
// is no complete command left to read. Refusals, closing replies and
// anything the client must see before it goes on are written at once.
func (s *shimConn) send(out []byte) error {
	hold := len(out) > 0 && out[0] == '2' && !bytes.HasPrefix(out, []byte("221")) &&
		!s.closeAfter && !s.startTLS && !s.dataMode && s.completeLineBuffered()
	s.pending = append(s.pending, out...)
	if hold {
		return nil
	}
	return s.flush()
}

// flush writes the held replies.
func (s *shimConn) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	_, err := s.conn.Write(s.pending)
	s.pending = s.pending[:0]
	return err
}

// completeLineBuffered reports whether a whole command line is already read.
func (s *shimConn) completeLineBuffered() bool {
	n := s.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := s.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

func (s *shimConn) greeting() string {
	if s.banner != "" {
		return s.banner
	}
	return fmt.Sprintf("220 %s transportd ESMTP service ready at %s", s.fqdn, time.Now().Format(time.RFC1123Z))
}

// ehloReply rebuilds the EHLO reply in Exchange's order with our domain on
// the first line.
func (s *shimConn) ehloReply() string {
	var caps []string
	for _, l := range s.capLines[1:] {
		cp := strings.TrimSpace(l[4:])
		switch {
		case cp == "CHUNKING", strings.HasPrefix(cp, "LIMITS "):
			continue
		}
		caps = append(caps, cp)
	}
	order := func(c string) int {
		for i, p := range []string{"SIZE", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "AUTH", "8BITMIME", "BINARYMIME", "SMTPUTF8"} {
			if c == p || strings.HasPrefix(c, p+" ") {
				return i
			}
		}
		return 100
	}
	if s.tlsCfg != nil && s.tlsState == nil {
		caps = append(caps, "STARTTLS")
	}
	// stable insertion sort by Exchange's order
	for i := 1; i < len(caps); i++ {
		for j := i; j > 0 && order(caps[j]) < order(caps[j-1]); j-- {
			caps[j], caps[j-1] = caps[j-1], caps[j]
		}
	}
	var sb strings.Builder
	lines := append([]string{fmt.Sprintf("%s Hello [%s]", s.fqdn, s.remote)}, caps...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		sb.WriteString("250" + sep + l + "\r\n")
	}
	return sb.String()
}

// Close closes the connection (and the TLS session) once and frees the
// connection slot.
func (s *shimConn) Close() error {
	if s.detaching.CompareAndSwap(true, false) {
		s.handOver()
		return nil
	}
	var err error
	s.closeOnce.Do(func() {
		err = s.raw.Close()
		s.plog.Disconnect()
		if s.release != nil {
			s.release()
		}
	})
	return err
}

func (s *shimConn) LocalAddr() net.Addr                { return s.raw.LocalAddr() }
func (s *shimConn) RemoteAddr() net.Addr               { return s.raw.RemoteAddr() }
func (s *shimConn) SetDeadline(t time.Time) error      { return s.raw.SetDeadline(t) }
func (s *shimConn) SetReadDeadline(t time.Time) error  { return s.raw.SetReadDeadline(t) }
func (s *shimConn) SetWriteDeadline(t time.Time) error { return s.raw.SetWriteDeadline(t) }

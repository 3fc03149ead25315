package connectivity

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"

	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// maxPOP3Line bounds a reply line; RFC 1939 section 3 allows 512 octets,
// RFC 2449 section 4 raises it for capabilities. Message lines may be
// longer (up to 998 octets, RFC 5322), so the bound is generous.
const maxPOP3Line = 8192

// pop3Conn is a POP3 client connection (RFC 1939).
type pop3Conn struct {
	o    *Options
	conn net.Conn
	r    *bufio.Reader
	tls  bool
}

// pop3Session logs on anew for every look at the maildrop: a POP3 session
// sees the maildrop as it was when it logged on (RFC 1939 section 8).
type pop3Session struct {
	o    *Options
	c    *pop3Conn
	used bool // c has already looked at the maildrop
}

// dialPOP3 reads the greeting and, for TLS, does STLS (RFC 2595 section 4).
func dialPOP3(ctx context.Context, o *Options, conn net.Conn) (session, error) {
	c, err := newPOP3(ctx, o, conn)
	if err != nil {
		return nil, err
	}
	return &pop3Session{o: o, c: c}, nil
}

func newPOP3(ctx context.Context, o *Options, conn net.Conn) (*pop3Conn, error) {
	c := &pop3Conn{o: o, conn: conn, r: bufio.NewReaderSize(conn, 4096), tls: secure(conn)}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := c.reply(); err != nil {
		return nil, fmt.Errorf("POP3 greeting from %s: %w", o.Address, err)
	}
	if o.Encryption == config.EncryptionTLS {
		if _, err := c.cmd("STLS"); err != nil {
			return nil, fmt.Errorf("STLS on %s: %w", o.Address, err)
		}
		tc := tls.Client(conn, o.tlsConfig())
		c.conn.SetDeadline(time.Now().Add(o.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("STLS on %s: %w", o.Address, err)
		}
		c.conn.SetDeadline(time.Time{})
		c.conn, c.r, c.tls = tc, bufio.NewReaderSize(tc, 4096), true
	}
	return c, nil
}

// errPOP3 is a -ERR reply.
type errPOP3 string

func (e errPOP3) Error() string { return "-ERR " + string(e) }

// parseStatus reads a POP3 status line (RFC 1939 section 3): "+OK text"
// or "-ERR text".
func parseStatus(line string) (string, error) {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "+OK" || strings.HasPrefix(line, "+OK "):
		return strings.TrimPrefix(strings.TrimPrefix(line, "+OK"), " "), nil
	case line == "-ERR" || strings.HasPrefix(line, "-ERR "):
		return "", errPOP3(strings.TrimPrefix(strings.TrimPrefix(line, "-ERR"), " "))
	case strings.HasPrefix(line, "+ ") || line == "+":
		return strings.TrimPrefix(strings.TrimPrefix(line, "+"), " "), nil // SASL continuation (RFC 5034)
	}
	return "", fmt.Errorf("not a POP3 reply: %q", line)
}

func (c *pop3Conn) line() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.o.Timeout))
	var b []byte
	for {
		part, more, err := c.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxPOP3Line {
			return "", fmt.Errorf("reply line longer than %d octets", maxPOP3Line)
		}
		if !more {
			return string(b), nil
		}
	}
}

func (c *pop3Conn) reply() (string, error) {
	l, err := c.line()
	if err != nil {
		return "", err
	}
	return parseStatus(l)
}

// cmd sends one command line and reads its status reply.
func (c *pop3Conn) cmd(line string) (string, error) {
	c.conn.SetWriteDeadline(time.Now().Add(c.o.Timeout))
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return c.reply()
}

// multiline reads the lines of a multi-line reply up to the lone ".",
// removing the dot-stuffing (RFC 1939 section 3).
func (c *pop3Conn) multiline() ([]string, error) {
	var out []string
	for {
		l, err := c.line()
		if err != nil {
			return nil, err
		}
		if l == "." {
			return out, nil
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

func (c *pop3Conn) logon() error {
	o := c.o
	switch o.LoginType {
	case config.LoginSecureLogin:
		if !c.tls {
			return errSecureLogin(POP3)
		}
		fallthrough
	case config.LoginPlainTextLogin: // RFC 1939 section 7
		if _, err := c.cmd("USER " + o.User); err != nil {
			return fmt.Errorf("USER %s: %w", o.User, err)
		}
		if _, err := c.cmd("PASS " + o.Password); err != nil {
			return fmt.Errorf("PASS for %s: %w", o.User, err)
		}
	case config.LoginPlainTextAuthentication: // RFC 5034, RFC 4616
		resp := base64.StdEncoding.EncodeToString([]byte("\x00" + o.User + "\x00" + o.Password))
		if _, err := c.cmd("AUTH PLAIN " + resp); err != nil {
			return fmt.Errorf("AUTH PLAIN as %s: %w", o.User, err)
		}
	}
	return nil
}

// parseList reads the scan listings of LIST (RFC 1939 section 5): "n size".
func parseList(lines []string) ([]int, error) {
	var out []int
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 1 {
			return nil, fmt.Errorf("bad scan listing %q", l)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad scan listing %q", l)
		}
		out = append(out, n)
	}
	return out, nil
}

// subjectOf returns the Subject of a header section as TOP returns it,
// unfolded (RFC 5322 section 2.2.3).
func subjectOf(lines []string) string {
	subj, in := "", false
	for _, l := range lines {
		if l == "" {
			break
		}
		if in && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			subj += l
			continue
		}
		in = false
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Subject") {
			subj, in = strings.TrimSpace(v), true
		}
	}
	return subj
}

func (s *pop3Session) logon(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.c.conn.Close() })
	defer stop()
	return s.c.logon()
}

// find looks at every message's header (TOP n 0) and deletes the one with
// the subject (DELE, committed by QUIT: RFC 1939 section 6).
func (s *pop3Session) find(ctx context.Context, subject string) (bool, error) {
	if s.used { // a new session sees new mail
		s.c.cmd("QUIT")
		s.c.conn.Close()
		o := *s.o
		c, err := o.connect(ctx, func(ctx context.Context, o *Options, conn net.Conn) (session, error) {
			c, err := newPOP3(ctx, o, conn)
			if err != nil {
				return nil, err
			}
			return &pop3Session{o: o, c: c}, nil
		})
		if err != nil {
			return false, err
		}
		s.c = c.(*pop3Session).c
		if err := s.logon(ctx); err != nil {
			return false, err
		}
	}
	s.used = true
	stop := context.AfterFunc(ctx, func() { s.c.conn.Close() })
	defer stop()
	if _, err := s.c.cmd("LIST"); err != nil {
		return false, fmt.Errorf("LIST: %w", err)
	}
	lines, err := s.c.multiline()
	if err != nil {
		return false, fmt.Errorf("LIST: %w", err)
	}
	nums, err := parseList(lines)
	if err != nil {
		return false, err
	}
	for i := len(nums) - 1; i >= 0; i-- { // the newest last
		n := nums[i]
		if _, err := s.c.cmd("TOP " + strconv.Itoa(n) + " 0"); err != nil {
			return false, fmt.Errorf("TOP %d 0: %w", n, err)
		}
		hdr, err := s.c.multiline()
		if err != nil {
			return false, fmt.Errorf("TOP %d 0: %w", n, err)
		}
		if subjectOf(hdr) != subject {
			continue
		}
		if _, err := s.c.cmd("DELE " + strconv.Itoa(n)); err != nil {
			return true, fmt.Errorf("found the test message but cannot delete it: %w", err)
		}
		if _, err := s.c.cmd("QUIT"); err != nil {
			return true, fmt.Errorf("found the test message; deleting it: QUIT: %w", err)
		}
		s.c.conn.Close()
		s.c = nil
		return true, nil
	}
	return false, nil
}

func (s *pop3Session) close() {
	if s.c == nil {
		return
	}
	s.c.cmd("QUIT")
	s.c.conn.Close()
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/submit"
)

const sendmailUsage = `transportd sendmail: the sendmail command line, for cron, PHP mail(), logwatch, git send-email.

  transportd sendmail [options] [--] [recipient ...]   (or the binary linked as sendmail)

  -t            take the recipients from To:, Cc: and Bcc: as well (Bcc: is removed)
  -i, -oi       a line with a single dot does not end the message (read to end of input)
  -f ADDR       the envelope sender (-f '<>' for none); default: your login at the default domain
  -F NAME       the full name for a From: field the message lacks
  -bs           speak SMTP on standard input and output
  -bm           read a message from standard input (the default)
  -o..., -B, -N, -R, -v, -q, -bi, -C, -L, -X   accepted and ignored, as Postfix's sendmail does

The message goes to the running transportd's queue over its local
submission socket (TRANSPORTD_SUBMIT_SOCKET, /run/transportd/submit.sock, or
the data folder). When transportd is not running the message is spooled to
the pickup folder if you may write there, else sendmail exits 75
(EX_TEMPFAIL) and the caller keeps the message.
`

// sendmailOptions is a parsed sendmail command line.
type sendmailOptions struct {
	req        submit.Request
	ignoreDots bool
	smtp       bool
}

// parseSendmail reads sendmail's options (Postfix's sendmail(1) set).
func parseSendmail(args []string) (sendmailOptions, error) {
	var o sendmailOptions
	value := func(i *int, a, flag string) (string, error) {
		if len(a) > len(flag) {
			return a[len(flag):], nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("%s needs a value", flag)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.req.Recipients = append(o.req.Recipients, args[i+1:]...)
			return o, nil
		case !strings.HasPrefix(a, "-") || a == "-":
			o.req.Recipients = append(o.req.Recipients, a)
		case a == "-t":
			o.req.Extract = true
		case a == "-i" || a == "-oi":
			o.ignoreDots = true
		case a == "-bs":
			o.smtp = true
		case a == "-bm", a == "-bi", a == "-v", a == "-n", a == "-U", a == "-Am", a == "-Ac":
		case strings.HasPrefix(a, "-f"), strings.HasPrefix(a, "-r"):
			v, err := value(&i, a, a[:2])
			if err != nil {
				return o, err
			}
			o.req.From = &v
		case strings.HasPrefix(a, "-F"):
			v, err := value(&i, a, "-F")
			if err != nil {
				return o, err
			}
			o.req.FullName = v
		case strings.HasPrefix(a, "-o"), strings.HasPrefix(a, "-q"), strings.HasPrefix(a, "-d"):
			// -oem, -odi, -oXvalue...: sendmail.cf options; -q, -d: no meaning here.
		case a == "-B", a == "-N", a == "-R", a == "-C", a == "-L", a == "-X", a == "-V", a == "-h":
			if _, err := value(&i, a, a); err != nil {
				return o, err
			}
		case strings.HasPrefix(a, "-B"), strings.HasPrefix(a, "-N"), strings.HasPrefix(a, "-R"),
			strings.HasPrefix(a, "-C"), strings.HasPrefix(a, "-L"), strings.HasPrefix(a, "-X"), strings.HasPrefix(a, "-V"):
		case a == "-bp":
			return o, errors.New("-bp (mailq) is `transportd queue get` and `transportd message get` here")
		default:
			return o, fmt.Errorf("unknown option %s", a)
		}
	}
	return o, nil
}

// readSendmailMessage reads the message from r: to the end of input, or
// without -i to a line holding a single dot.
func readSendmailMessage(r io.Reader, ignoreDots bool) ([]byte, error) {
	if ignoreDots {
		return io.ReadAll(r)
	}
	var buf bytes.Buffer
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if t := bytes.TrimRight(line, "\r\n"); len(line) > 0 && string(t) == "." {
			return buf.Bytes(), nil
		}
		buf.Write(line)
		if err == io.EOF {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// submitSocketCandidates lists where the running daemon's submission
// socket may be, first match wins.
func submitSocketCandidates(cfgPath string) []string {
	var out []string
	if p := os.Getenv("TRANSPORTD_SUBMIT_SOCKET"); p != "" {
		return []string{p}
	}
	out = append(out, "/run/transportd/"+submit.SocketName)
	if cfg, err := config.Read(cfgPath); err == nil {
		out = append(out, filepath.Join(cfg.DataDir(), submit.SocketName))
	}
	return out
}

// runSendmail is `transportd sendmail` and the binary called as sendmail.
func runSendmail(cfgPath string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, sendmailUsage)
			return 0
		}
	}
	o, err := parseSendmail(args)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return submit.ExUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if o.smtp {
		return sendmailSMTP(ctx, cfgPath, o, stdin, stdout, stderr)
	}
	msg, err := readSendmailMessage(stdin, o.ignoreDots)
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: reading the message: %v\n", err)
		return submit.ExIOErr
	}
	code, text := deliverLocal(ctx, cfgPath, o.req, msg)
	if text != "" {
		fmt.Fprintf(stderr, "sendmail: %s\n", text)
	}
	return code
}

// deliverLocal hands one message to the daemon, or spools it to the
// pickup folder when the daemon is down; it returns the exit code and
// what to tell the user.
func deliverLocal(ctx context.Context, cfgPath string, req submit.Request, msg []byte) (int, string) {
	var notRunning error
	for _, path := range submitSocketCandidates(cfgPath) {
		r, err := submit.Send(ctx, path, req, bytes.NewReader(msg))
		if errors.Is(err, submit.ErrNotRunning) {
			notRunning = err
			continue
		}
		if err != nil {
			return submit.ExTempFail, err.Error()
		}
		if r.Error != "" {
			return r.Status, r.Error
		}
		return submit.ExOK, ""
	}
	if path, err := spoolToPickup(cfgPath, req, msg); err == nil {
		return submit.ExOK, ""
	} else if path != "" {
		return submit.ExTempFail, fmt.Sprintf("transportd is not running, and the pickup folder %s is not writable (%v): the message was not sent; try again later", path, err)
	}
	if notRunning == nil {
		notRunning = submit.ErrNotRunning
	}
	return submit.ExTempFail, fmt.Sprintf("%v: the message was not sent; start transportd and try again", notRunning)
}

// spoolToPickup writes the message into the pickup folder, with IIS's
// X-Sender and X-Receiver fields carrying the envelope, for the daemon to
// take when it starts. It returns the folder it tried ("" when the
// configuration cannot be read).
func spoolToPickup(cfgPath string, req submit.Request, msg []byte) (string, error) {
	cfg, err := config.Read(cfgPath)
	if err != nil {
		return "", err
	}
	dir, _ := cfg.PickupDirs()
	if dir == "" {
		return "", errors.New("no pickup folder")
	}
	u := submit.User{UID: os.Getuid()}
	if cur, err := user.Current(); err == nil {
		u.Name = cur.Username
	} else {
		u.Name = fmt.Sprint(u.UID)
	}
	domain := strings.ToLower(cfg.Server.Fqdn)
	for _, d := range cfg.AcceptedDomains {
		if d.Default && !strings.Contains(d.DomainName, "*") {
			domain = strings.ToLower(d.DomainName)
		}
	}
	p, err := submit.Prepare(submit.Submission{User: u, Request: req, Message: msg}, domain)
	if err != nil {
		return dir, err
	}
	var b bytes.Buffer
	if p.From == "" {
		b.WriteString("X-Sender: <>\r\n")
	} else {
		fmt.Fprintf(&b, "X-Sender: <%s>\r\n", p.From)
	}
	for _, r := range p.Recipients {
		fmt.Fprintf(&b, "X-Receiver: <%s>\r\n", r)
	}
	b.Write(p.Message)
	var rnd [8]byte
	rand.Read(rnd[:])
	name := "sendmail-" + hex.EncodeToString(rnd[:])
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return dir, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".eml")); err != nil {
		os.Remove(tmp)
		return dir, err
	}
	return dir, nil
}

// sendmailSMTP is -bs: an SMTP dialogue on standard input and output, each
// message handed to the daemon as the command line would.
func sendmailSMTP(ctx context.Context, cfgPath string, o sendmailOptions, stdin io.Reader, stdout, stderr io.Writer) int {
	host, _ := os.Hostname()
	if cfg, err := config.Read(cfgPath); err == nil && cfg.Server.Fqdn != "" {
		host = cfg.Server.Fqdn
	}
	be := gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &bsSession{ctx: ctx, cfgPath: cfgPath, fullName: o.req.FullName}, nil
	})
	srv := gosmtp.NewServer(be)
	srv.Domain = host
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Minute, time.Minute
	srv.MaxMessageBytes = 64 << 20
	srv.AllowInsecureAuth = false
	c := &stdioConn{r: stdin, w: stdout, done: make(chan struct{})}
	l := &oneConnListener{c: c}
	if err := srv.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(stderr, "sendmail -bs: %v\n", err)
		return submit.ExIOErr
	}
	return submit.ExOK
}

// bsSession collects one transaction at a time for -bs.
type bsSession struct {
	ctx      context.Context
	cfgPath  string
	fullName string
	from     *string
	rcpts    []string
}

func (s *bsSession) Reset()        { s.from, s.rcpts = nil, nil }
func (s *bsSession) Logout() error { return nil }
func (s *bsSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from = &from
	return nil
}
func (s *bsSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *bsSession) Data(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	from := *s.from
	if from == "" {
		from = "<>"
	}
	code, text := deliverLocal(s.ctx, s.cfgPath, submit.Request{From: &from, FullName: s.fullName, Recipients: s.rcpts}, msg)
	switch {
	case code == submit.ExOK:
		return nil
	case code == submit.ExTempFail:
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: text}
	default:
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: text}
	}
}

// stdioConn is standard input and output as the one connection of -bs.
type stdioConn struct {
	r    io.Reader
	w    io.Writer
	once sync.Once
	done chan struct{}
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "standard input" }

// oneConnListener hands out one connection, then reports itself closed
// once that connection ends, so that Serve returns.
type oneConnListener struct {
	c     *stdioConn
	given bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.given {
		l.given = true
		return l.c, nil
	}
	<-l.c.done
	return nil, net.ErrClosed
}
func (l *oneConnListener) Close() error   { return l.c.Close() }
func (l *oneConnListener) Addr() net.Addr { return stdioAddr{} }

// Package selftest checks an SMTP submission service the way a mail client
// uses it, like Exchange's Test-SmtpConnectivity: TCP connect, the 220
// greeting, EHLO, STARTTLS and the certificate it serves, AUTH, a test
// message to the mailbox itself and, for a local mailbox, its delivery into
// the Maildir. Run returns one Step per check; the command line prints them
// (`transportd test smtp`).
package selftest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/header"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// Status is the outcome of one step.
type Status string

// The outcomes. Only Fail makes the test fail.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Warn Status = "WARN"
)

// Step is one check and its outcome, with the reason in words.
type Step struct {
	// Name says what was checked ("STARTTLS", "Certificate name", ...).
	Name string
	// Status is PASS, FAIL or WARN.
	Status Status
	// Detail is the evidence or the reason.
	Detail string
}

// Options says what to test.
type Options struct {
	// Address is host:port to connect to.
	Address string
	// Fqdn is the name the greeting must give and the certificate must
	// cover. Empty: the host of Address when it is a name, else the name
	// in the greeting.
	Fqdn string
	// Mailbox is the address to log on as and to send the test message to
	// (from itself). Empty: AUTH, submission and delivery are not tested.
	Mailbox string
	// Password is the mailbox's password.
	Password string
	// Maildir is the mailbox's Maildir (holding new/ and cur/). Empty:
	// delivery is not checked, for the reason in NoDeliveryCheck.
	Maildir string
	// NoDeliveryCheck explains why delivery is not checked when Maildir is empty.
	NoDeliveryCheck string
	// CertificateStatus is what `connector get` and the daemon's log say
	// about the connector's certificate (connector.TLSStatus); a missing
	// STARTTLS is explained with it, so the three say the same.
	CertificateStatus string
	// TLSOptional makes a missing STARTTLS a warning (the connector's
	// AuthMechanism has no Tls) instead of a failure.
	TLSOptional bool
	// AuthOptional makes a missing AUTH a warning when no Mailbox is given
	// (the connector takes anonymous mail).
	AuthOptional bool
	// Roots are the trusted CAs; nil: the system roots.
	Roots *x509.CertPool
	// Timeout bounds the connect and each reply (30 s when zero).
	Timeout time.Duration
	// DeliveryTimeout bounds the wait for delivery (20 s when zero).
	DeliveryTimeout time.Duration
	// Now gives the time for the certificate checks (time.Now when nil).
	Now func() time.Time
	// Log receives the SMTP conversation at debug level (slog.Default when nil).
	Log *slog.Logger
	// Subject, when set, is the test message's Subject, so that
	// Test-ImapConnectivity and Test-PopConnectivity can find it.
	Subject string

	// LogonOnly stops after AUTH: no test message is sent (a smart host
	// of a send connector is tested as the connector would log on).
	LogonOnly bool
}

// ForConnector returns the options that test rc as a client would: its
// first binding (0.0.0.0 as 127.0.0.1, [::] as [::1]), its Fqdn, and, when
// mailbox is given (a name or an address of a mailbox in cfg), that
// mailbox's primary address and its Maildir under the data folder.
func ForConnector(cfg *config.Config, rc *connector.ReceiveConnector, mailbox string) (Options, error) {
	if len(rc.Bindings) == 0 {
		return Options{}, fmt.Errorf("receive connector %q has no Bindings", rc.Name)
	}
	b := rc.Bindings[0]
	ip := b.Addr()
	switch {
	case ip.Is4() && ip.IsUnspecified():
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case ip.IsUnspecified():
		ip = netip.IPv6Loopback()
	}
	o := Options{
		Address:      netip.AddrPortFrom(ip, b.Port()).String(),
		Fqdn:         rc.Fqdn,
		TLSOptional:  !rc.AuthMechanism.Has(permissions.MechTLS),
		AuthOptional: !rc.AuthMechanism.Has(permissions.MechBasicAuth) && !rc.AuthMechanism.Has(permissions.MechBasicAuthRequireTLS),
	}
	if mailbox == "" {
		return o, nil
	}
	mb := cfg.FindMailbox(mailbox)
	if mb == nil {
		for i := range cfg.Mailboxes {
			if strings.EqualFold(cfg.Mailboxes[i].Name, mailbox) {
				mb = &cfg.Mailboxes[i]
				break
			}
		}
	}
	if mb == nil {
		return Options{}, fmt.Errorf("no mailbox %q (see transportd mailbox get)", mailbox)
	}
	o.Mailbox = mb.PrimarySmtpAddress
	if lmtp := cfg.Transport.MailboxDeliveryLmtpServer; lmtp != "" {
		o.NoDeliveryCheck = "local mail goes over LMTP to " + lmtp + "; look for the message there"
	} else {
		o.Maildir = filepath.Join(cfg.DataDir(), "mailboxes", strings.ToLower(mb.PrimarySmtpAddress), "Maildir")
	}
	return o, nil
}

// Failed reports whether any step failed.
func Failed(steps []Step) bool {
	for _, s := range steps {
		if s.Status == Fail {
			return true
		}
	}
	return false
}

// Format prints the steps one per line: status, name, reason.
func Format(w io.Writer, steps []Step) {
	width := 0
	for _, s := range steps {
		width = max(width, len(s.Name))
	}
	for _, s := range steps {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", s.Status, width, s.Name, s.Detail)
	}
}

// Run performs the checks in order and returns their outcomes. It stops at
// the first failure that leaves nothing further to test (no connection, no
// greeting, a broken TLS handshake, a refused logon).
func Run(ctx context.Context, o Options) []Step {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	t := &tester{o: o, log: o.Log.With("server", o.Address)}
	t.run(ctx)
	return t.steps
}

type tester struct {
	o     Options
	log   *slog.Logger
	steps []Step
	conn  net.Conn
	r     *bufio.Reader
	fqdn  string
}

func (t *tester) add(name string, st Status, format string, a ...any) bool {
	t.steps = append(t.steps, Step{Name: name, Status: st, Detail: fmt.Sprintf(format, a...)})
	return st != Fail
}

func (t *tester) run(ctx context.Context) {
	host, _, err := net.SplitHostPort(t.o.Address)
	if err != nil {
		t.add("TCP connect", Fail, "%q is not host:port: %v", t.o.Address, err)
		return
	}
	t.fqdn = strings.TrimSuffix(t.o.Fqdn, ".")
	if _, err := netip.ParseAddr(host); t.fqdn == "" && err != nil {
		t.fqdn = host
	}
	start := time.Now()
	d := net.Dialer{Timeout: t.o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", t.o.Address)
	if err != nil {
		t.add("TCP connect", Fail, "%v", err)
		return
	}
	t.conn, t.r = conn, bufio.NewReader(conn)
	stop := context.AfterFunc(ctx, func() { t.conn.Close() })
	defer func() {
		stop()
		t.conn.Close()
	}()
	t.add("TCP connect", Pass, "connected to %s from %s in %s", conn.RemoteAddr(), conn.LocalAddr(), time.Since(start).Round(10*time.Microsecond))

	if !t.greeting() {
		return
	}
	ext, ok := t.ehlo("EHLO")
	if !ok {
		return
	}
	tlsDone := false
	if _, offered := ext["STARTTLS"]; !offered {
		st := Fail
		why := "clients cannot encrypt; passwords would cross the network in the clear"
		if t.o.TLSOptional {
			st, why = Warn, "the connector's AuthMechanism has no Tls"
		}
		if t.o.CertificateStatus != "" && !t.o.TLSOptional {
			why += "; the connector's CertificateStatus: " + t.o.CertificateStatus
		}
		t.add("STARTTLS offered", st, "STARTTLS is not in the EHLO reply: %s", why)
	} else {
		t.add("STARTTLS offered", Pass, "STARTTLS is in the EHLO reply")
		if !t.startTLS() {
			return
		}
		tlsDone = true
		if ext, ok = t.ehlo("EHLO after TLS"); !ok {
			return
		}
	}
	if !t.auth(ext, tlsDone) {
		return
	}
	if t.o.Mailbox == "" || t.o.LogonOnly {
		t.quit()
		return
	}
	subject, ok := t.submit()
	t.quit()
	if !ok {
		return
	}
	t.delivery(ctx, subject)
}

// reply reads one SMTP reply, possibly multi-line, and returns its code and
// its lines joined by " | ".
func (t *tester) reply() (int, string, error) {
	t.conn.SetReadDeadline(time.Now().Add(t.o.Timeout))
	var lines []string
	for {
		line, err := t.r.ReadString('\n')
		if err != nil {
			if len(lines) > 0 || line != "" {
				return 0, strings.Join(append(lines, line), " | "), fmt.Errorf("reading the reply: %w", err)
			}
			return 0, "", fmt.Errorf("reading the reply: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	t.log.Debug("selftest <", "reply", strings.Join(lines, "\n"))
	code, err := strconv.Atoi(lines[len(lines)-1][:min(3, len(lines[len(lines)-1]))])
	if err != nil {
		return 0, strings.Join(lines, " | "), fmt.Errorf("not an SMTP reply: %q", lines[len(lines)-1])
	}
	return code, strings.Join(lines, " | "), nil
}

// cmd sends one command line; shown (for the debug log) hides secrets.
func (t *tester) cmd(line, shown string) (int, string, error) {
	t.log.Debug("selftest >", "command", shown)
	t.conn.SetWriteDeadline(time.Now().Add(t.o.Timeout))
	if _, err := io.WriteString(t.conn, line+"\r\n"); err != nil {
		return 0, "", fmt.Errorf("sending %s: %w", shown, err)
	}
	return t.reply()
}

func (t *tester) greeting() bool {
	code, text, err := t.reply()
	switch {
	case err != nil:
		return t.add("Greeting", Fail, "no 220 greeting: %v %s", err, text)
	case code != 220:
		return t.add("Greeting", Fail, "the server refuses the connection: %s", text)
	}
	words := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(text, "220 "), "220-"))
	named := ""
	if len(words) > 0 {
		named = strings.TrimSuffix(words[0], ".")
	}
	if t.fqdn == "" {
		t.fqdn = named
		return t.add("Greeting", Pass, "%s (no FQDN given: checking the certificate against %q)", text, named)
	}
	for _, w := range words {
		if strings.EqualFold(strings.TrimSuffix(w, "."), t.fqdn) {
			return t.add("Greeting", Pass, "names %s: %s", t.fqdn, text)
		}
	}
	// The session still works; clients do not check the greeting.
	t.add("Greeting", Fail, "does not name %s (the connector's Fqdn): %s", t.fqdn, text)
	return true
}

func (t *tester) ehloName() string {
	if a, ok := t.conn.LocalAddr().(*net.TCPAddr); ok {
		if ip := a.AddrPort().Addr().Unmap(); ip.Is4() {
			return "[" + ip.String() + "]"
		} else if ip.IsValid() {
			return "[IPv6:" + ip.String() + "]"
		}
	}
	return "[127.0.0.1]"
}

// ehlo sends EHLO and returns the extensions (keyword, upper case -> parameters).
func (t *tester) ehlo(step string) (map[string]string, bool) {
	code, text, err := t.cmd("EHLO "+t.ehloName(), "EHLO")
	if err != nil || code != 250 {
		t.add(step, Fail, "EHLO refused: %s %v", text, errOrEmpty(err))
		return nil, false
	}
	ext := map[string]string{}
	var names []string
	for i, line := range strings.Split(text, " | ") {
		if i == 0 || len(line) < 4 {
			continue
		}
		kw, params, _ := strings.Cut(strings.TrimSpace(line[4:]), " ")
		ext[strings.ToUpper(kw)] = params
		names = append(names, strings.TrimSpace(line[4:]))
	}
	t.add(step, Pass, "250; extensions: %s", strings.Join(names, ", "))
	return ext, true
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

var tlsVersions = map[uint16]string{tls.VersionTLS10: "TLS 1.0", tls.VersionTLS11: "TLS 1.1", tls.VersionTLS12: "TLS 1.2", tls.VersionTLS13: "TLS 1.3"}

func (t *tester) startTLS() bool {
	code, text, err := t.cmd("STARTTLS", "STARTTLS")
	if err != nil || code != 220 {
		return t.add("STARTTLS", Fail, "STARTTLS refused: %s %s", text, errOrEmpty(err))
	}
	// The certificate is checked below, step by step, so that each problem
	// is reported instead of one handshake error.
	tc := tls.Client(t.conn, &tls.Config{ServerName: t.fqdn, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	t.conn.SetDeadline(time.Now().Add(t.o.Timeout))
	if err := tc.Handshake(); err != nil {
		return t.add("STARTTLS", Fail, "TLS handshake failed: %v", err)
	}
	t.conn.SetDeadline(time.Time{})
	t.conn, t.r = tc, bufio.NewReader(tc)
	st := tc.ConnectionState()
	t.add("STARTTLS", Pass, "negotiated %s (%s)", tlsVersions[st.Version], tls.CipherSuiteName(st.CipherSuite))
	t.checkCertificate(st.PeerCertificates)
	return true
}

func (t *tester) checkCertificate(chain []*x509.Certificate) {
	if len(chain) == 0 {
		t.add("Certificate", Fail, "the server sent no certificate")
		return
	}
	leaf := chain[0]
	id := fmt.Sprintf("%s (thumbprint %s)", leaf.Subject, certs.Thumbprint(leaf.Raw))
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName + " (CN only; clients ignore it)"}
	}
	if err := leaf.VerifyHostname(t.fqdn); err != nil {
		t.add("Certificate name", Fail, "%s does not cover %s: it covers %s", id, t.fqdn, strings.Join(names, ", "))
	} else {
		t.add("Certificate name", Pass, "%s covers %s", id, t.fqdn)
	}
	now := t.o.Now()
	switch left := leaf.NotAfter.Sub(now); {
	case now.Before(leaf.NotBefore):
		t.add("Certificate validity", Fail, "not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case left < 0:
		t.add("Certificate validity", Fail, "expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case left < 30*24*time.Hour:
		t.add("Certificate validity", Warn, "expires on %s, in %d days: renew it", leaf.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
	default:
		t.add("Certificate validity", Pass, "valid until %s", leaf.NotAfter.UTC().Format("2006-01-02"))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: t.o.Roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	roots := "the system roots"
	if t.o.Roots != nil {
		roots = "the given roots"
	}
	switch {
	case err == nil:
		t.add("Certificate trust", Pass, "issued by %s, trusted by %s", leaf.Issuer, roots)
	case selfSigned(leaf):
		t.add("Certificate trust", Warn, "self-signed: clients warn or refuse unless they trust it; import a CA-issued certificate (transportd cert import)")
	default:
		t.add("Certificate trust", Warn, "issued by %s, not trusted by %s: %v", leaf.Issuer, roots, err)
	}
}

func selfSigned(c *x509.Certificate) bool {
	// CheckSignatureFrom would insist on a CA certificate; Exchange's and
	// our self-signed certificates are plain server certificates.
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func (t *tester) auth(ext map[string]string, tlsDone bool) bool {
	params, offered := ext["AUTH"]
	mechs := strings.Fields(strings.ToUpper(params))
	switch {
	case !offered && t.o.Mailbox == "" && t.o.AuthOptional:
		return t.add("AUTH offered", Warn, "AUTH is not offered (the connector has no BasicAuth: it takes anonymous mail)")
	case !offered:
		why := ""
		if !tlsDone {
			why = " (without TLS; BasicAuthRequireTLS hides AUTH until STARTTLS)"
		}
		return t.add("AUTH offered", Fail, "AUTH is not in the EHLO reply%s", why)
	case !contains(mechs, "PLAIN") && !contains(mechs, "LOGIN"):
		return t.add("AUTH offered", Fail, "AUTH %s offers neither PLAIN nor LOGIN, which POP3/IMAP clients use", params)
	}
	t.add("AUTH offered", Pass, "AUTH %s", params)
	if t.o.Mailbox == "" {
		t.add("AUTH", Warn, "not tested: give -mailbox and -password - to test AUTH, submission and delivery")
		return true
	}
	var code int
	var text string
	var err error
	if contains(mechs, "PLAIN") {
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + t.o.Mailbox + "\x00" + t.o.Password))
		code, text, err = t.cmd("AUTH PLAIN "+ir, "AUTH PLAIN <hidden>")
	} else {
		code, text, err = t.authLogin()
	}
	if err != nil || code != 235 {
		return t.add("AUTH", Fail, "logon as %s refused: %s %s", t.o.Mailbox, text, errOrEmpty(err))
	}
	return t.add("AUTH", Pass, "logged on as %s: %s", t.o.Mailbox, text)
}

func (t *tester) authLogin() (int, string, error) {
	code, text, err := t.cmd("AUTH LOGIN", "AUTH LOGIN")
	for _, v := range []string{t.o.Mailbox, t.o.Password} {
		if err != nil || code != 334 {
			return code, text, err
		}
		code, text, err = t.cmd(base64.StdEncoding.EncodeToString([]byte(v)), "<hidden>")
	}
	return code, text, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// submit sends the test message from the mailbox to itself and returns its Subject.
func (t *tester) submit() (string, bool) {
	const step = "Submission"
	var id [8]byte
	rand.Read(id[:])
	token := hex.EncodeToString(id[:])
	subject := "transportd self-test " + token
	if t.o.Subject != "" {
		subject = t.o.Subject
	}
	_, domain, _ := strings.Cut(t.o.Mailbox, "@")
	for _, c := range []string{"MAIL FROM:<" + t.o.Mailbox + ">", "RCPT TO:<" + t.o.Mailbox + ">", "DATA"} {
		code, text, err := t.cmd(c, c)
		want := 250
		if c == "DATA" {
			want = 354
		}
		if err != nil || code != want {
			return "", t.add(step, Fail, "%s: %s %s", c, text, errOrEmpty(err))
		}
	}
	msg := strings.Join([]string{
		"From: <" + t.o.Mailbox + ">",
		"To: <" + t.o.Mailbox + ">",
		"Subject: " + subject,
		"Date: " + time.Now().Format(time.RFC1123Z),
		"Message-ID: <" + token + ".selftest@" + domain + ">",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"",
		"This message was sent by \"transportd test smtp\" to check that this mailbox",
		"can submit mail through " + t.fqdn + " and receive it. It can be deleted.",
		".",
	}, "\r\n")
	code, text, err := t.cmd(msg, "<message "+subject+">")
	if err != nil || code != 250 {
		return "", t.add(step, Fail, "message refused: %s %s", text, errOrEmpty(err))
	}
	return subject, t.add(step, Pass, "%q from and to %s accepted: %s", subject, t.o.Mailbox, text)
}

func (t *tester) quit() {
	t.cmd("QUIT", "QUIT") // the result does not matter
}

// delivery waits for the test message in the Maildir's new/ (or cur/, if a
// client already saw it).
func (t *tester) delivery(ctx context.Context, subject string) {
	const step = "Delivery"
	if t.o.Maildir == "" {
		why := t.o.NoDeliveryCheck
		if why == "" {
			why = "not checked: the mailbox is not on this server; look for Subject \"" + subject + "\" in it"
		}
		t.add(step, Warn, "%s", why)
		return
	}
	start := time.Now()
	deadline := start.Add(t.o.DeliveryTimeout)
	for {
		p, err := findIn(t.o.Maildir, subject)
		if err != nil {
			t.add(step, Fail, "%v", err)
			return
		}
		if p != "" {
			t.add(step, Pass, "found in %s after %s", p, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.add(step, Fail, "%q not in %s after %s; see transportd queue get and the daemon's log", subject, filepath.Join(t.o.Maildir, "new"), t.o.DeliveryTimeout)
			return
		}
		select {
		case <-ctx.Done():
			t.add(step, Fail, "stopped waiting for %q: %v", subject, ctx.Err())
			return
		case <-time.After(100 * time.Millisecond): // polling the Maildir as a mail client does
		}
	}
}

// findIn returns the message file under maildir/new or maildir/cur whose
// Subject is subject.
func findIn(maildir, subject string) (string, error) {
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(maildir, sub)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue // not delivered yet: the Maildir appears with the first message
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if ok, err := headerHas(filepath.Join(dir, e.Name()), subject); err == nil && ok {
				return filepath.Join(dir, e.Name()), nil
			}
		}
	}
	return "", nil
}

// headerHas reports whether the message file at path has a Subject field
// whose value is subject (its header read with package header: any case,
// folded or not, CRLF or Maildir's LF).
func headerHas(path, subject string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h, err := header.ReadHeader(f, 64<<10)
	if err != nil {
		return false, err
	}
	return h.Get("Subject") == subject, nil
}

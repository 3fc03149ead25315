package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/policies/lockout"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/durable"
)

// The golden transcript suite: every file in testdata/golden is one SMTP
// conversation with the real server over TCP on loopback (and real TLS
// after STARTTLS). It fails on any change of wire behaviour, including one
// a dependency upgrade brings; go test -run TestGolden -update rewrites the
// files from what the server says now, for changes that are meant.
//
// File format, one line each:
//
//	# comment                    ignored
//	@connector frontend|client|small|off|strict   which connector to talk to (before the first C:)
//	C: EHLO client.example       a command line; CRLF is appended
//	C: "a\n.\n"                  a Go-quoted string sent as is, without CRLF
//	C: <tls>                     TLS handshake as a client (after 220 to STARTTLS)
//	C: <reconnect>               close and connect again (the greeting follows as S:)
//	S: 250 2.1.0 Sender OK       one reply line, after variable parts are replaced:
//	                             <date> for RFC 1123 dates, <id> for queue ids
//	S: <closed>                  the server closed the connection
//
// Consecutive C: lines leave in one write, as a pipelining client sends
// them; the S: lines after them are the replies to all of them. <tls> and
// <reconnect> start a new block: the replies before them are read first.
var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from the server's replies")

// goldenServer runs the real server with three connectors on loopback: the
// default frontend (port 25), the client frontend (587) and a small custom
// one with tight limits. Tarpits are off so refusals come at once.
type goldenServer struct {
	addrs map[string]string
}

// goldenCerts returns a certificate store with a self-signed certificate
// for mail.contoso.com, in a folder the test removes.
func goldenCerts(t *testing.T) *certs.Store {
	t.Helper()
	store, err := certs.Open(t.TempDir(), durable.WriteFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.EnsureDefault("mail.contoso.com"); err != nil {
		t.Fatal(err)
	}
	return store
}

func startGoldenServer(t *testing.T) *goldenServer { return startGoldenServerWith(t, nil) }

// startGoldenServerWith is startGoldenServer with changes to its parts
// (tune may be nil).
func startGoldenServerWith(t *testing.T, tune func(*Deps, []connector.ReceiveConnector)) *goldenServer {
	t.Helper()
	dir := t.TempDir()
	q := openTestQueue(t, dir+"/queue")
	tbl, err := domains.NewTable([]domains.AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	guard := lockout.New(lockout.Policy{Threshold: 3, Window: 15 * time.Minute, Duration: 15 * time.Minute}, time.Now)
	deps := Deps{Queue: q, Certs: goldenCerts(t), Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler), Lockout: guard}
	cs := connector.Defaults("mail.contoso.com")
	small := connector.New("Small", connector.UsageCustom, "mail.contoso.com")
	small.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
	small.MaxRecipientsPerMessage = 2
	small.MaxMessageSize = 1024
	small.MaxHeaderSize = 256
	small.MaxHopCount = 2
	cs = append(cs, small, switchesOff(), switchesStrict())
	names := []string{"frontend", "client", "small", "off", "strict"}
	gs := &goldenServer{addrs: map[string]string{}}
	var picked []net.Listener // held until all are picked: three different ports
	for i := range cs {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		picked = append(picked, l)
		cs[i].Bindings = []netip.AddrPort{l.Addr().(*net.TCPAddr).AddrPort()}
		cs[i].TarpitInterval, cs[i].AuthTarpitInterval = 0, 0
		cs[i].ConnectionInactivityTimeout = 10e9
		cs[i].MaxInboundConnectionPerSource = 0
		gs.addrs[names[i]] = cs[i].Bindings[0].String()
	}
	for _, l := range picked {
		l.Close()
	}
	if tune != nil {
		tune(&deps, cs)
	}
	srv := New(deps)
	if err := srv.Apply(Snapshot{Connectors: cs, Domains: tbl}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return gs
}

var goldenVariable = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}`), "<date>"},
	{regexp.MustCompile(`<[^<>@ ]+> Queued`), "<id> Queued"},
	{regexp.MustCompile(`(?i)(queued as) \S+`), "$1 <id>"},
}

func normalizeGolden(line string) string {
	for _, v := range goldenVariable {
		line = v.re.ReplaceAllString(line, v.repl)
	}
	return line
}

type goldenStep struct {
	client []string // one block of client lines
	server []string // the replies that follow
}

type goldenScript struct {
	connector string
	header    []string // comments and directives, kept on -update
	steps     []goldenStep
}

func parseGolden(t *testing.T, text string) goldenScript {
	t.Helper()
	sc := goldenScript{connector: "frontend"}
	var cur *goldenStep
	for n, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "C: "):
			directive := line == "C: <tls>" || line == "C: <reconnect>"
			if cur == nil || len(cur.server) > 0 || directive {
				sc.steps = append(sc.steps, goldenStep{})
				cur = &sc.steps[len(sc.steps)-1]
			}
			cur.client = append(cur.client, line[3:])
		case strings.HasPrefix(line, "S: "):
			if cur == nil {
				sc.steps = append(sc.steps, goldenStep{})
				cur = &sc.steps[len(sc.steps)-1]
			}
			cur.server = append(cur.server, line[3:])
		case strings.HasPrefix(line, "@connector "):
			sc.connector = strings.TrimSpace(line[len("@connector "):])
			sc.header = append(sc.header, line)
		case strings.HasPrefix(line, "#") || line == "":
			if len(sc.steps) == 0 {
				sc.header = append(sc.header, line)
			}
		default:
			t.Fatalf("line %d: %q is not C:, S:, @ or #", n+1, line)
		}
	}
	return sc
}

// goldenConn is the client side of one transcript.
type goldenConn struct {
	t    *testing.T
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func (g *goldenConn) dial() {
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		g.t.Fatal(err)
	}
	g.c, g.r = c, bufio.NewReader(c)
}

// send writes one block of client lines in one write, after the
// directive that may start it.
func (g *goldenConn) send(lines []string) {
	var buf []byte
	flush := func() {
		if len(buf) > 0 {
			g.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := g.c.Write(buf); err != nil {
				g.t.Logf("write: %v", err) // the server may have closed; the replies tell
			}
			buf = buf[:0]
		}
	}
	for _, l := range lines {
		switch {
		case l == "<tls>":
			flush()
			tc := tls.Client(g.c, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.contoso.com"})
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				g.t.Fatalf("TLS handshake: %v", err)
			}
			g.c, g.r = tc, bufio.NewReader(tc)
		case l == "<reconnect>":
			flush()
			g.c.Close()
			g.dial()
		case strings.HasPrefix(l, `"`):
			s, err := strconv.Unquote(l)
			if err != nil {
				g.t.Fatalf("bad quoted client line %s: %v", l, err)
			}
			buf = append(buf, s...)
		default:
			buf = append(buf, l...)
			buf = append(buf, '\r', '\n')
		}
	}
	flush()
}

// readLine returns the next reply line, "<closed>" at the end of the
// connection, or "" when nothing came within wait.
func (g *goldenConn) readLine(wait time.Duration) string {
	g.c.SetReadDeadline(time.Now().Add(wait))
	line, err := g.r.ReadString('\n')
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if line != "" {
				g.t.Fatalf("partial reply line %q", line)
			}
			return ""
		}
		if line == "" {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset by peer") {
				return "<closed>"
			}
			return "<closed>"
		}
	}
	if !strings.HasSuffix(line, "\r\n") {
		g.t.Fatalf("reply line without CRLF: %q", line)
	}
	return normalizeGolden(strings.TrimSuffix(line, "\r\n"))
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sc := parseGolden(t, string(raw))
			gs := startGoldenServer(t)
			addr, ok := gs.addrs[sc.connector]
			if !ok {
				t.Fatalf("unknown @connector %q", sc.connector)
			}
			g := &goldenConn{t: t, addr: addr}
			g.dial()
			defer func() { g.c.Close() }()
			var out []string
			out = append(out, sc.header...)
			for i, st := range sc.steps {
				if len(st.client) > 0 {
					g.send(st.client)
					for _, l := range st.client {
						out = append(out, "C: "+l)
					}
				}
				if *updateGolden {
					// No signal says the server has finished answering a
					// block; wait until it has been quiet for a while.
					for {
						l := g.readLine(400 * time.Millisecond)
						if l == "" {
							break
						}
						out = append(out, "S: "+l)
						if l == "<closed>" {
							break
						}
					}
					continue
				}
				for j, want := range st.server {
					got := g.readLine(10 * time.Second)
					if got != want {
						t.Fatalf("step %d, reply %d: got %q, want %q (after %q)", i+1, j+1, got, want, st.client)
					}
				}
			}
			if *updateGolden {
				if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			// Nothing more may come than the transcript says.
			if l := g.readLine(50 * time.Millisecond); l != "" && l != "<closed>" {
				t.Fatalf("unexpected reply after the transcript: %q", l)
			}
		})
	}
}

// switchesOff is a connector with every ESMTP switch off (the golden
// "off" connector).
func switchesOff() connector.ReceiveConnector {
	c := connector.New("Switches Off", connector.UsageCustom, "mail.contoso.com")
	c.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
	c.ChunkingEnabled, c.BinaryMimeEnabled, c.EightBitMimeEnabled = false, false, false
	c.PipeliningEnabled, c.EnhancedStatusCodesEnabled, c.DeliveryStatusNotificationEnabled = false, false, false
	c.SizeEnabled = connector.SizeDisabled
	return c
}

// switchesStrict is a connector with the optional checks on and
// SMTPUTF8 offered (the golden "strict" connector).
func switchesStrict() connector.ReceiveConnector {
	c := connector.New("Strict", connector.UsageCustom, "mail.contoso.com")
	c.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
	c.AnonymousRelay = true
	c.SmtpUtf8Enabled = true
	c.BinaryMimeEnabled = true
	c.SizeEnabled = connector.SizeEnabledWithoutValue
	c.RequireEHLODomain = true
	c.BareLinefeedRejectionEnabled = true
	c.RejectReservedTopLevelRecipientDomains = true
	c.RejectReservedSecondLevelRecipientDomains = true
	c.RejectSingleLabelRecipientDomains = true
	c.DefaultDomain = "contoso.com"
	c.MaxProtocolErrors = 2
	c.MaxLocalHopCount = 1
	c.LongAddressesEnabled = true
	return c
}

package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/iprange"
)

// captureQueue keeps the envelope and body of every message.
type captureQueue struct {
	discardQueue
	mu   sync.Mutex
	msgs []Message
	body []string
}

func (q *captureQueue) Enqueue(_ context.Context, env Message, body io.Reader) (string, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	q.mu.Lock()
	q.msgs = append(q.msgs, env)
	q.body = append(q.body, string(b))
	q.mu.Unlock()
	return env.ID, nil
}

func (q *captureQueue) last(t *testing.T) (Message, string) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		t.Fatal("no message queued")
	}
	return q.msgs[len(q.msgs)-1], q.body[len(q.body)-1]
}

// startProxyServer runs the Default Frontend on a loopback port with the
// PROXY protocol trusted from 127.0.0.1 only, and beside it, on the same
// binding, a "Partners" connector for 198.51.100.0/24 with its own banner:
// the banner a proxied client sees tells which connector got it.
func startProxyServer(t *testing.T) (string, *captureQueue) {
	t.Helper()
	q := &captureQueue{}
	srv := New(Deps{Queue: q, Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { srv.Close() })
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bind := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	fe := connector.Defaults("mail.contoso.com")[0]
	fe.Bindings = []netip.AddrPort{bind}
	fe.TarpitInterval, fe.MaxInboundConnectionPerSource = 0, 0
	fe.ProxyProtocolEnabled = true
	fe.ProxyProtocolTrustedAddresses = iprange.List{mustRange(t, "127.0.0.1")}
	partners := connector.New("Partners", connector.UsagePartner, "mail.contoso.com")
	partners.Bindings = fe.Bindings
	partners.RemoteIPRanges = iprange.List{mustRange(t, "198.51.100.0/24")}
	partners.Banner = "220 partners welcome"
	if err := srv.Apply(Snapshot{Connectors: []connector.ReceiveConnector{fe, partners}, Domains: testDomains(t)}); err != nil {
		t.Fatal(err)
	}
	return bind.String(), q
}

func mustRange(t *testing.T, s string) iprange.Range {
	t.Helper()
	r, err := iprange.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// proxyClient dials addr from local (a loopback address) and sends
// header first, when not nil.
func proxyClient(t *testing.T, local, addr string, header []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if header != nil {
		if _, err := c.Write(header); err != nil {
			t.Fatal(err)
		}
	}
	return c, bufio.NewReader(c)
}

// reply reads one whole reply, or "<closed>".
func readReply(r *bufio.Reader) string {
	var out []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			if len(out) == 0 {
				return "<closed>"
			}
			return strings.Join(out, "\n")
		}
		l = strings.TrimRight(l, "\r\n")
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(out, "\n")
		}
	}
}

func proxyHeader(t *testing.T, version byte, client string) []byte {
	t.Helper()
	src := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(client))
	dst := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25}
	b, err := proxyproto.HeaderProxyFromAddrs(version, src, dst).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A trusted balancer's PROXY header (v1 and v2) makes the client's
// address the connection's: in the Received header, the queued envelope,
// and the choice of connector (RemoteIPRanges).
func TestProxyProtocolTrustedBalancer(t *testing.T) {
	addr, q := startProxyServer(t)
	for _, v := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c, r := proxyClient(t, "127.0.0.1", addr, proxyHeader(t, v, "203.0.113.9:40000"))
			if g := readReply(r); !strings.HasPrefix(g, "220 mail.contoso.com") {
				t.Fatalf("greeting %q", g)
			}
			for _, cmd := range []string{"EHLO client.example", "MAIL FROM:<x@fabrikam.com>", "RCPT TO:<alice@contoso.com>", "DATA"} {
				fmt.Fprintf(c, "%s\r\n", cmd)
				if rep := readReply(r); rep[0] != '2' && rep[0] != '3' {
					t.Fatalf("%s: %q", cmd, rep)
				}
			}
			fmt.Fprintf(c, "Subject: hi\r\n\r\nbody\r\n.\r\n")
			if rep := readReply(r); !strings.HasPrefix(rep, "250") {
				t.Fatalf("end of data: %q", rep)
			}
			msg, body := q.last(t)
			if got := msg.RemoteAddr.Addr().String(); got != "203.0.113.9" {
				t.Errorf("queued RemoteAddr %s, want the client's 203.0.113.9", got)
			}
			if !strings.Contains(body, "[203.0.113.9]") || strings.Contains(body, "127.0.0.1") {
				t.Errorf("Received header does not name the client alone:\n%s", body)
			}
		})
	}
	t.Run("selection", func(t *testing.T) {
		_, r := proxyClient(t, "127.0.0.1", addr, proxyHeader(t, 2, "198.51.100.7:1234"))
		if g := readReply(r); g != "220 partners welcome" {
			t.Errorf("client 198.51.100.7 got %q, want the Partners connector's banner", g)
		}
	})
	t.Run("local", func(t *testing.T) {
		h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		_, r := proxyClient(t, "127.0.0.1", addr, b)
		if g := readReply(r); !strings.HasPrefix(g, "220 mail.contoso.com") {
			t.Errorf("health check (LOCAL) got %q", g)
		}
	})
}

// A trusted balancer that sends no header, or a broken one, is closed
// without a word: there is no client to talk to.
func TestProxyProtocolMissingHeader(t *testing.T) {
	addr, _ := startProxyServer(t)
	for name, first := range map[string][]byte{
		"smtp":   []byte("EHLO client.example\r\n"),
		"broken": []byte("PROXY TCP4 300.1.1.1 127.0.0.1 1 25\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			_, r := proxyClient(t, "127.0.0.1", addr, first)
			if g := readReply(r); g != "<closed>" {
				t.Errorf("got %q, want the connection closed", g)
			}
		})
	}
}

// A PROXY header from an address that is not a trusted balancer is
// refused with 554 5.7.1 and the connection closed.
func TestProxyProtocolUntrustedRefused(t *testing.T) {
	addr, q := startProxyServer(t)
	for _, v := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			_, r := proxyClient(t, "127.0.0.2", addr, proxyHeader(t, v, "203.0.113.9:40000"))
			if g := readReply(r); !strings.HasPrefix(g, "220 ") {
				t.Fatalf("greeting %q", g)
			}
			if rep := readReply(r); !strings.HasPrefix(rep, "554 5.7.1 PROXY protocol header refused: 127.0.0.2") {
				t.Errorf("reply %q, want 554 5.7.1", rep)
			}
			if rep := readReply(r); rep != "<closed>" {
				t.Errorf("after the refusal: %q, want the connection closed", rep)
			}
		})
	}
	t.Run("typed", func(t *testing.T) {
		c, r := proxyClient(t, "127.0.0.2", addr, nil)
		readReply(r)
		fmt.Fprintf(c, "EHLO x\r\n")
		readReply(r)
		fmt.Fprintf(c, "PROXY TCP4 203.0.113.9 127.0.0.1 1 25\r\n")
		if rep := readReply(r); !strings.HasPrefix(rep, "554 5.7.1") {
			t.Errorf("PROXY as a command: %q", rep)
		}
	})
	// An untrusted client without a header is served as usual.
	c, r := proxyClient(t, "127.0.0.2", addr, nil)
	readReply(r)
	for _, cmd := range []string{"HELO x", "MAIL FROM:<>", "RCPT TO:<alice@contoso.com>", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if rep := readReply(r); rep[0] != '2' && rep[0] != '3' {
			t.Fatalf("%s: %q", cmd, rep)
		}
	}
	fmt.Fprintf(c, "Subject: hi\r\n\r\n.\r\n")
	readReply(r)
	if msg, _ := q.last(t); msg.RemoteAddr.Addr().String() != "127.0.0.2" {
		t.Errorf("RemoteAddr %s", msg.RemoteAddr)
	}
}

// FuzzProxyHeader feeds anything a trusted balancer could send first to
// the PROXY header reader: it must never panic, and whatever follows a
// header it accepts must reach the session unchanged.
func FuzzProxyHeader(f *testing.F) {
	for _, v := range []byte{1, 2} {
		src := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.9:40000"))
		b, _ := proxyproto.HeaderProxyFromAddrs(v, src, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25}).Format()
		f.Add(append(b, "EHLO x\r\n"...))
	}
	f.Add([]byte("PROXY UNKNOWN\r\nEHLO x\r\n"))
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"))
	f.Add([]byte("EHLO x\r\n"))
	f.Add(append(append([]byte{}, proxyV2...), 0x21, 0x11, 0xff, 0xff))
	srv := New(Deps{Queue: &discardQueue{}, Logger: slog.New(slog.DiscardHandler)})
	bal := netip.MustParseAddrPort("127.0.0.1:1")
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		go func() {
			a.Write(data)
			a.Close()
		}()
		defer b.Close()
		pc, ok := srv.readProxyHeader(b, bal, bal)
		if !ok {
			return
		}
		if pc.RemoteAddr() == nil {
			t.Fatal("accepted header without a remote address")
		}
		rest, _ := io.ReadAll(pc)
		if !bytes.HasSuffix(data, rest) {
			t.Fatalf("the bytes after the header changed: %q is not the end of %q", rest, data)
		}
	})
}

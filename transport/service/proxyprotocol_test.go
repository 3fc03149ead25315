package service

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/transport/admin/config"
)

// startHAProxy runs Debian's HAProxy in front of backend with
// send-proxy-v2 and returns the address clients connect to. Its
// listening socket is ours, bound before HAProxy starts and handed to it
// as fd 3 ("bind fd@3"), so no test waits for it to listen.
func startHAProxy(t *testing.T, backend string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr == nil {
			bin = "/usr/sbin/haproxy"
		} else {
			interopMissing(t, "interop peer haproxy is not installed", "haproxy")
		}
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // HAProxy holds its own copy
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend smtp
    bind fd@3
    default_backend transportd
backend transportd
    server transportd %s send-proxy-v2
`, backend)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy said:\n%s", out.String())
		}
	})
	return l.Addr().String()
}

// HAProxy in front of the Default Frontend with send-proxy-v2: the
// protocol log and the Received header show the real client's address
// (127.0.0.9), not the balancer's (127.0.0.1).
func TestHAProxySendProxyV2(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
		for i := range c.ReceiveConnectors {
			rc := &c.ReceiveConnectors[i]
			if strings.HasPrefix(rc.Name, "Default") {
				rc.ProxyProtocolEnabled = true
				rc.ProxyProtocolTrustedAddresses = iprange.List{iprange.FromPrefix(netip.MustParsePrefix("127.0.0.1/32"))}
				rc.ProtocolLoggingLevel = "Verbose"
			}
		}
	})
	front := startHAProxy(t, d.addr25())
	recvLog, _ := d.svc.ProtocolLogs()

	c := dialFrom(t, "127.0.0.9", front)
	if !strings.HasPrefix(c.Greeting, "220 mail.contoso.com") {
		t.Fatalf("greeting through HAProxy: %q", c.Greeting)
	}
	c.expect("250", "EHLO client.example")
	r := c.send("someone@fabrikam.example", []string{"alice@contoso.com"}, "Subject: through haproxy\r\n\r\nhello\r\n")
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("message through HAProxy: %q", r)
	}
	c.close()
	msg := d.delivered(r)
	if !strings.Contains(msg, "[127.0.0.9]") {
		t.Errorf("the Received header does not name the client 127.0.0.9:\n%s", msg)
	}

	// A PROXY header sent straight to the connector by someone else is refused.
	x := dialFrom(t, "127.0.0.10", d.addr25())
	if r := x.cmd("PROXY TCP4 203.0.113.9 127.0.0.1 4242 25"); !strings.HasPrefix(r, "554 5.7.1") {
		t.Errorf("PROXY header from 127.0.0.10: %q, want 554 5.7.1", r)
	}

	d.cancel() // close the sessions and flush the logs
	<-d.done
	var client, untrusted bool
	for _, rec := range protocolRecords(t, recvLog, "RECV") {
		remote := rec[5]
		if strings.HasPrefix(remote, "127.0.0.1:") {
			t.Errorf("the protocol log names the balancer 127.0.0.1: %q", rec)
		}
		client = client || strings.HasPrefix(remote, "127.0.0.9:")
		untrusted = untrusted || (strings.HasPrefix(remote, "127.0.0.10:") && strings.Contains(rec[7], "554 5.7.1"))
	}
	if !client {
		t.Error("the protocol log has no session from the client 127.0.0.9")
	}
	if !untrusted {
		t.Error("the protocol log does not show the 554 5.7.1 refusal of the untrusted PROXY header")
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/shell"
	"github.com/transportd/transportd/transport/service"
)

// The documented procedure, pasted into the shell while the daemon runs,
// changes what new sessions see: the EHLO name and the served certificate.
func TestShellProcedureReachesTheLiveDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := config.Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Update(path, func(c *config.Config) error {
		c.Server.Fqdn, c.Server.Name = "mail.contoso.com", "MAIL"
		c.ReceiveConnectors = c.ReceiveConnectors[1:] // the Client Frontend
		c.ReceiveConnectors[0].Bindings = []netip.AddrPort{netip.MustParseAddrPort(addr)}
		c.ReceiveConnectors[0].Fqdn = "mail.contoso.com"
		c.Logging.MetricsAddress = ""
		c.ClientSettings.HttpBindings = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan struct{}, 16)
	svc, err := service.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc.OnReload = func(int, error) { reloaded <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var out strings.Builder
	sh := shell.New(path, &out)
	if err := sh.Run(`$cert = New-ExchangeCertificate -SubjectName CN=smtp.contoso.com -DomainName smtp.contoso.com`); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	v, _ := sh.Var("cert")
	obj, ok := v.(*shell.Object)
	if !ok {
		t.Fatalf("$cert is %T", v)
	}
	tv, _ := obj.Get("Thumbprint")
	thumb, _ := tv.(string)
	script := `Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -Fqdn smtp.contoso.com
$TLSCert = Get-ExchangeCertificate -Thumbprint ` + thumb + `
$TLSCertName = "<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)"
Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -TlsCertificateName $TLSCertName`
	if err := sh.Run(script); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// Wait until the daemon has applied both changes and holds the certificate.
	deadline := time.After(15 * time.Second)
	for {
		_, certErr := svc.Certs().Get(thumb)
		rc := svc.Config().ReceiveConnectors[0]
		if certErr == nil && rc.Fqdn == "smtp.contoso.com" && rc.TlsCertificateName != "" {
			break
		}
		select {
		case <-reloaded:
		case <-time.After(50 * time.Millisecond):
			svc.Certs().Reload() // the file watcher may coalesce events
		case <-deadline:
			t.Fatal("the daemon never applied the shell's changes")
		}
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() string {
		var all []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			all = append(all, strings.TrimRight(line, "\r\n"))
			if len(line) < 4 || line[3] != '-' {
				return strings.Join(all, "\n")
			}
		}
	}
	if g := reply(); !strings.HasPrefix(g, "220 smtp.contoso.com ") {
		t.Fatalf("greeting %q", g)
	}
	fmt.Fprintf(conn, "EHLO client.example\r\n")
	if e := reply(); !strings.HasPrefix(e, "250-smtp.contoso.com Hello") {
		t.Fatalf("EHLO %q", e)
	}
	fmt.Fprintf(conn, "STARTTLS\r\n")
	if s := reply(); !strings.HasPrefix(s, "220") {
		t.Fatalf("STARTTLS %q", s)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if got := certs.Thumbprint(tc.ConnectionState().PeerCertificates[0].Raw); got != thumb {
		t.Fatalf("served certificate %s, want %s", got, thumb)
	}
}

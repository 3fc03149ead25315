package certs

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWatchHotReload(t *testing.T) {
	s, _ := openTestStore(t)
	changed := make(chan struct{}, 1)
	s.OnChange(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()

	ca := newTestCA(t, "Contoso Test CA")
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !cond() {
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	leaf, key := ca.issue(t, leafOpts{subject: cn("hot.contoso.com")})
	dropFile(t, s.Dir(), "hot.pem", append(certPEM(leaf), keyPEM(t, key, "pkcs8")...), 0o600)
	tp := Thumbprint(leaf.Raw)
	waitFor("the dropped file to load", func() bool { _, err := s.Get(tp); return err == nil })

	c, _ := s.Get(tp)
	if !c.HasPrivateKey {
		t.Error("dropped certificate has no key")
	}

	// Hand-editing services.json is picked up too.
	dropFile(t, s.Dir(), ServicesFile, []byte(`{"`+strings.ToLower(tp)+`": {"services": ["smtp"], "friendlyName": "hand"}}`), 0o600)
	waitFor("services.json to load", func() bool { c, err := s.Get(tp); return err == nil && c.HasService("SMTP") })

	// Deleting the file removes the certificate.
	if err := s.Remove(tp); err != nil {
		t.Fatal(err)
	}
	waitFor("removal", func() bool { _, err := s.Get(tp); return err != nil })
}

// recordingCache is a client session cache that records stored tickets.
type recordingCache struct {
	mu  sync.Mutex
	put int
}

func (r *recordingCache) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (r *recordingCache) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		return
	}
	r.mu.Lock()
	r.put++
	r.mu.Unlock()
}

func (r *recordingCache) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.put
}

// serveTLS runs a TLS server on 127.0.0.1 that greets after the handshake.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(conn, cfg)
				if err := tc.Handshake(); err != nil {
					return
				}
				_, _ = tc.Write([]byte("220 ready\r\n"))
				_ = tc.CloseWrite()
				buf := make([]byte, 1)
				_, _ = tc.Read(buf) // wait for the client to hang up
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes, reads the greeting and returns the served leaf.
func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return nil, err
	}
	if line != "220 ready\r\n" {
		return nil, errors.New("unexpected greeting " + line)
	}
	return conn.ConnectionState().PeerCertificates[0], nil
}

func TestServerTLSConfig(t *testing.T) {
	s, _ := openTestStore(t)
	ca := newTestCA(t, "Contoso Test CA")
	now := time.Now()
	leafA, keyA := ca.issue(t, leafOpts{subject: cn("mail.contoso.com"), dns: []string{"mail.contoso.com"}, notBefore: now.Add(-48 * time.Hour)})
	a := importCert(t, s, leafA, keyA, []string{"SMTP"}, ca.cert)

	var mu sync.Mutex
	name, fqdn := "", "mail.contoso.com"
	set := func(n, f string) { mu.Lock(); name, fqdn = n, f; mu.Unlock() }
	cfg := s.ServerTLSConfig(func() (string, string) { mu.Lock(); defer mu.Unlock(); return name, fqdn })
	if cfg.MinVersion != tls.VersionTLS12 || !cfg.SessionTicketsDisabled {
		t.Fatalf("MinVersion %x SessionTicketsDisabled %v", cfg.MinVersion, cfg.SessionTicketsDisabled)
	}
	addr := serveTLS(t, cfg)

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(minV, maxV uint16, cache tls.ClientSessionCache) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: "mail.contoso.com", MinVersion: minV, MaxVersion: maxV, ClientSessionCache: cache}
	}

	got, err := dial(addr, client(tls.VersionTLS12, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if Thumbprint(got.Raw) != a.Thumbprint {
		t.Fatalf("served %s, want A", got.Subject)
	}

	// A newer certificate is served by the same config right after Import.
	leafB, keyB := ca.issue(t, leafOpts{subject: cn("mail.contoso.com"), dns: []string{"mail.contoso.com"}, notBefore: now.Add(-time.Hour)})
	b := importCert(t, s, leafB, keyB, []string{"SMTP"}, ca.cert)
	got, err = dial(addr, client(tls.VersionTLS12, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if Thumbprint(got.Raw) != b.Thumbprint {
		t.Fatalf("served %s, want B after Import", Thumbprint(got.Raw))
	}

	// Naming A pins it again.
	set(a.Thumbprint, "mail.contoso.com")
	if got, err = dial(addr, client(tls.VersionTLS12, 0, nil)); err != nil || Thumbprint(got.Raw) != a.Thumbprint {
		t.Fatalf("named A: %v", err)
	}

	// No session tickets, neither in TLS 1.2 nor in TLS 1.3.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := &recordingCache{}
		if _, err := dial(addr, client(v, v, cache)); err != nil {
			t.Fatalf("TLS %x: %v", v, err)
		}
		if n := cache.count(); n != 0 {
			t.Errorf("TLS %x: server issued %d session tickets", v, n)
		}
	}

	// TLS 1.1 is refused.
	if _, err := dial(addr, client(tls.VersionTLS10, tls.VersionTLS11, nil)); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}

	// With nothing to serve, the handshake fails.
	set("", "nothing.example.org")
	if _, err := dial(addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Error("handshake succeeded without a certificate")
	}
	c, p := s.Select("", "nothing.example.org", time.Now())
	if c != nil || !strings.Contains(string(p), "STARTTLS will not be offered") {
		t.Errorf("Select = %v, %q", c, p)
	}
}

package service

import (
	"bufio"
	"crypto/tls"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// The suites an old device offers: CBC with HMAC-SHA1, ECDHE or RSA key
// exchange (the daemon's self-signed certificate is RSA).
var (
	cbcSuites = []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	}
	rsaKexCBCSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA}
	aeadSuites      = []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	}
)

// tlsClient is a client's TLS offer: the version range and TLS 1.0-1.2 suites.
type tlsClient struct {
	name       string
	min, max   uint16
	suites     []uint16 // nil: crypto/tls's defaults
	wantOK     bool
	wantSuites []uint16 // when wantOK: the negotiated suite is one of these (nil: any)
}

// tryStartTLS runs EHLO, STARTTLS and a handshake with the offer of tc, then
// EHLO again inside TLS; it returns the state or the handshake error.
func tryStartTLS(t *testing.T, addr string, tc tlsClient) (*tls.ConnectionState, error) {
	t.Helper()
	c := dial(t, addr)
	c.expect("250", "EHLO device.example")
	c.expect("220", "STARTTLS")
	conn := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.contoso.com",
		MinVersion: tc.min, MaxVersion: tc.max, CipherSuites: tc.suites})
	if err := conn.Handshake(); err != nil {
		return nil, err
	}
	c.conn, c.r = conn, bufio.NewReader(conn)
	c.expect("250", "EHLO device.example") // the session goes on inside TLS
	c.close()
	st := conn.ConnectionState()
	return &st, nil
}

func checkTLSOffers(t *testing.T, addr string, cases []tlsClient) {
	t.Helper()
	for _, tc := range cases {
		st, err := tryStartTLS(t, addr, tc)
		switch {
		case tc.wantOK && err != nil:
			t.Errorf("%s: handshake failed: %v", tc.name, err)
		case !tc.wantOK && err == nil:
			t.Errorf("%s: handshake succeeded with %s %s, want a refusal",
				tc.name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		case tc.wantOK && tc.wantSuites != nil && !slices.Contains(tc.wantSuites, st.CipherSuite):
			t.Errorf("%s: negotiated %s, want one of the offered suites", tc.name, tls.CipherSuiteName(st.CipherSuite))
		case tc.wantOK && tc.max != 0 && st.Version != tc.max:
			t.Errorf("%s: negotiated %s, want %s", tc.name, tls.VersionName(st.Version), tls.VersionName(tc.max))
		}
	}
}

// TestDefaultConnectorsOfferOnlyAEADOnTLS12: by default STARTTLS is TLS 1.2
// or 1.3 and, on TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305 only: no
// CBC suite (LUCKY13), no RSA key exchange, no TLS 1.0 or 1.1 (issue 8
// item 9).
func TestDefaultConnectorsOfferOnlyAEADOnTLS12(t *testing.T) {
	d := startDaemon(t, nil)
	for _, addr := range []string{d.addr25(), d.addr587()} {
		checkTLSOffers(t, addr, []tlsClient{
			{name: "TLS 1.3", min: tls.VersionTLS13, max: tls.VersionTLS13, wantOK: true},
			{name: "TLS 1.2 default suites", max: tls.VersionTLS12, wantOK: true, wantSuites: aeadSuites},
			{name: "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 only", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, wantOK: true},
			{name: "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305 only", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, wantOK: true},
			{name: "TLS 1.2 CBC only", max: tls.VersionTLS12, suites: cbcSuites},
			{name: "TLS 1.2 RSA key exchange only", max: tls.VersionTLS12, suites: append([]uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, rsaKexCBCSuites...)},
			{name: "TLS 1.1", min: tls.VersionTLS10, max: tls.VersionTLS11, suites: append(cbcSuites, rsaKexCBCSuites...)},
			{name: "TLS 1.0", min: tls.VersionTLS10, max: tls.VersionTLS10, suites: append(cbcSuites, rsaKexCBCSuites...)},
		})
	}
}

// TestAllowLegacyTLSClients: a connector for old devices, scoped to their
// addresses, accepts TLS 1.0 and 1.1 and the CBC suites, while the other
// connectors on the same daemon (and port) stay strict (issue 11 item 4).
func TestAllowLegacyTLSClients(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		rc := connector.New("Legacy Devices", connector.UsageCustom, "mail.contoso.com")
		rc.Bindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(d.port25))}
		rc.RemoteIPRanges = mustRange("127.0.0.1")
		rc.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
		rc.AllowLegacyTLSClients = true
		c.ReceiveConnectors = append(c.ReceiveConnectors, rc)
	})
	legacyOffers := []tlsClient{
		{name: "TLS 1.0 CBC", min: tls.VersionTLS10, max: tls.VersionTLS10, suites: cbcSuites, wantOK: true, wantSuites: cbcSuites},
		{name: "TLS 1.1 CBC", min: tls.VersionTLS10, max: tls.VersionTLS11, suites: cbcSuites, wantOK: true, wantSuites: cbcSuites},
		{name: "TLS 1.0 RSA key exchange", min: tls.VersionTLS10, max: tls.VersionTLS10, suites: rsaKexCBCSuites, wantOK: true, wantSuites: rsaKexCBCSuites},
		{name: "TLS 1.2 CBC only", max: tls.VersionTLS12, suites: cbcSuites, wantOK: true, wantSuites: cbcSuites},
	}
	// 127.0.0.1 on the port-25 binding is served by Legacy Devices.
	checkTLSOffers(t, d.addr25(), append(legacyOffers,
		tlsClient{name: "TLS 1.3", min: tls.VersionTLS13, wantOK: true},
		tlsClient{name: "TLS 1.2 default prefers AEAD", max: tls.VersionTLS12, wantOK: true, wantSuites: aeadSuites},
		tlsClient{name: "TLS 1.0 3DES", min: tls.VersionTLS10, max: tls.VersionTLS10,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
		tlsClient{name: "TLS 1.0 RC4", min: tls.VersionTLS10, max: tls.VersionTLS10,
			suites: []uint16{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA}},
	))
	c := dial(t, d.addr25())
	if r := c.cmd("EHLO device.example"); !strings.Contains(c.Greeting, "mail.contoso.com") || !strings.HasPrefix(r, "250") {
		t.Fatalf("greeting %q, EHLO %q", c.Greeting, r)
	}
	c.close()
	// The Client Frontend on its own port is not opened by it.
	var strict []tlsClient
	for _, o := range legacyOffers {
		o.wantOK = false
		strict = append(strict, o)
	}
	checkTLSOffers(t, d.addr587(), strict)
}

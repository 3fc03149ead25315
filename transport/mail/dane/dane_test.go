package dane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

func mkcert(t *testing.T, cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notAfter time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter, BasicConstraintsValid: true, IsCA: isCA}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{cn}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestVerify(t *testing.T) {
	now := time.Now()
	ca, caKey := mkcert(t, "DANE test CA", true, nil, nil, now.Add(time.Hour))
	leaf, _ := mkcert(t, "mx1.example.net", false, ca, caKey, now.Add(time.Hour))
	expired, _ := mkcert(t, "other.example", false, nil, nil, now.Add(-time.Hour))
	other, _ := mkcert(t, "mx1.example.net", false, ca, caKey, now.Add(time.Hour))
	chain := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf, ca}}
	for _, tc := range []struct {
		name  string
		cs    tls.ConnectionState
		recs  []Record
		names []string
		err   string
	}{
		{"EE 3 1 1", chain, []Record{RecordFor(3, 1, 1, leaf)}, nil, ""},
		{"EE 3 0 1", chain, []Record{RecordFor(3, 0, 1, leaf)}, nil, ""},
		{"EE 3 1 2", chain, []Record{RecordFor(3, 1, 2, leaf)}, nil, ""},
		{"EE 3 0 0", chain, []Record{RecordFor(3, 0, 0, leaf)}, nil, ""},
		// DANE-EE: no name or validity checks (RFC 7672 section 3.1.1).
		{"EE expired, other name", tls.ConnectionState{PeerCertificates: []*x509.Certificate{expired}}, []Record{RecordFor(3, 1, 1, expired)}, []string{"mx1.example.net"}, ""},
		{"EE mismatch", chain, []Record{RecordFor(3, 1, 1, other)}, nil, "no TLSA record matches"},
		{"TA 2 0 1", chain, []Record{RecordFor(2, 0, 1, ca)}, []string{"mx1.example.net"}, ""},
		{"TA 2 1 1", chain, []Record{RecordFor(2, 1, 1, ca)}, []string{"MX1.example.net."}, ""},
		{"TA wrong name", chain, []Record{RecordFor(2, 0, 1, ca)}, []string{"mx2.example.net"}, "do not cover mx2.example.net"},
		{"TA not sent", tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, []Record{RecordFor(2, 0, 1, ca)}, []string{"mx1.example.net"}, "no TLSA record matches"},
		{"TA matching the leaf itself is not a trust anchor", chain, []Record{RecordFor(2, 0, 1, leaf)}, []string{"mx1.example.net"}, "no TLSA record matches"},
		{"one of several", chain, []Record{RecordFor(3, 1, 1, other), RecordFor(2, 1, 1, ca)}, []string{"mx1.example.net"}, ""},
		{"no certificate", tls.ConnectionState{}, []Record{RecordFor(3, 1, 1, leaf)}, nil, "no certificate"},
	} {
		err := Verify(tc.cs, tc.recs, tc.names, now)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.err)
		}
	}
}

func TestUsable(t *testing.T) {
	for _, tc := range []struct {
		r    Record
		want bool
	}{
		{Record{3, 1, 1, make([]byte, 32)}, true},
		{Record{2, 0, 2, make([]byte, 64)}, true},
		{Record{3, 1, 1, make([]byte, 31)}, false}, // wrong digest length
		{Record{1, 1, 1, make([]byte, 32)}, false}, // PKIX-EE: not for SMTP (RFC 7672 section 3.1.3)
		{Record{0, 1, 1, make([]byte, 32)}, false}, // PKIX-TA
		{Record{3, 2, 1, make([]byte, 32)}, false},
		{Record{3, 1, 3, make([]byte, 32)}, false},
	} {
		if got := tc.r.usable(); got != tc.want {
			t.Errorf("%v usable = %v, want %v", tc.r, got, tc.want)
		}
	}
}

package dkimsign

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

func TestSignVerifiesAndOversignsFrom(t *testing.T) {
	for _, kt := range []struct {
		typ  string
		bits int
	}{{KeyTypeRSA, 1024}, {KeyTypeEd25519, 0}} {
		key, err := Generate(kt.typ, kt.bits)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "contoso.com", "selector1.key")
		if err := SaveKey(path, key); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode: %v %v", fi, err)
		}
		key, err = LoadKey(path)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := Record(key)
		if err != nil {
			t.Fatal(err)
		}
		msg := "Received: by mail.contoso.com; x\r\nFrom: a@contoso.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody  \r\n"
		sig, err := Sign([]byte(msg), "contoso.com", "selector1", key)
		if err != nil {
			t.Fatal(err)
		}
		lookup := func(name string) ([]string, error) {
			if name != "selector1._domainkey.contoso.com" {
				t.Fatalf("looked up %s", name)
			}
			return []string{rec}, nil
		}
		v, err := dkim.VerifyWithOptions(strings.NewReader(sig+msg), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(v) != 1 || v[0].Err != nil {
			t.Fatalf("%s: %v %+v", kt.typ, err, v)
		}
		if got := strings.Join(v[0].HeaderKeys, ":"); got != "From:From:Subject:To" {
			t.Errorf("%s: h=%s, want From oversigned and no Received", kt.typ, got)
		}
		// Relaxed body canonicalization: trailing white space may change.
		v, _ = dkim.VerifyWithOptions(strings.NewReader(sig+strings.Replace(msg, "body  ", "body", 1)), &dkim.VerifyOptions{LookupTXT: lookup})
		if len(v) != 1 || v[0].Err != nil {
			t.Errorf("%s: relaxed body did not verify: %+v", kt.typ, v)
		}
	}
}

func TestGenerateRefusesOtherSizes(t *testing.T) {
	if _, err := Generate(KeyTypeRSA, 4096); err == nil || !bytes.Contains([]byte(err.Error()), []byte("2048")) {
		t.Fatalf("4096: %v", err)
	}
	if _, err := Generate("DSA", 0); err == nil {
		t.Fatal("DSA accepted")
	}
}

// BenchmarkSign measures one signature over a 10 KB message (RSA 2048).
func BenchmarkSign(b *testing.B) {
	key, err := Generate(KeyTypeRSA, 2048)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte("From: a@contoso.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n" + strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n", 150))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Sign(msg, "contoso.com", "selector1", key); err != nil {
			b.Fatal(err)
		}
	}
}

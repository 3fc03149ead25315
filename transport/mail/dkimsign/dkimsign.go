// Package dkimsign holds DKIM signing keys and signs outgoing mail with
// them (RFC 6376): key generation (RSA 1024/2048, Ed25519 per RFC 8463),
// the key files under the data folder (owner-only, written durably), the
// DNS TXT record to publish for each selector, and the signature itself,
// relaxed/relaxed over the header fields RFC 6376 section 5.4.1
// recommends, with From: oversigned.
//
// Signing is done by github.com/emersion/go-msgauth/dkim; this package
// only chooses what to sign with.
package dkimsign

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/transportd/transportd/transport/durable"
)

// Selectors are the two selectors each domain has, named as Exchange
// Online names them: one signs, the other takes the next key at a
// rotation.
var Selectors = [2]string{"selector1", "selector2"}

// Key types of New-DkimSigningConfig -KeyType.
const (
	KeyTypeRSA     = "RSA"
	KeyTypeEd25519 = "Ed25519"
)

// SignedHeaders are the header fields signed (RFC 6376 section 5.4.1's
// recommended list). Each is signed as often as it appears and From once
// more than that ("oversigned", section 8.15): a From: field added
// in transit breaks the signature instead of changing who the recipient
// sees as the author.
var SignedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From", "Resent-To",
	"Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Help", "List-Unsubscribe",
	"List-Subscribe", "List-Post", "List-Owner", "List-Archive", "Message-ID", "Sender",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-ID", "Content-Description",
}

// Generate makes a new private key: RSA of bits (1024 or 2048), or Ed25519.
func Generate(keyType string, bits int) (crypto.Signer, error) {
	switch {
	case strings.EqualFold(keyType, KeyTypeEd25519):
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case keyType == "" || strings.EqualFold(keyType, KeyTypeRSA):
		if bits != 1024 && bits != 2048 {
			return nil, fmt.Errorf("-KeySize %d: give 2048 (the default) or 1024", bits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return nil, fmt.Errorf("-KeyType %q: give RSA or Ed25519", keyType)
}

// KeyPath is the key file of selector for domain under dir (the data
// folder's dkim/).
func KeyPath(dir, domain, selector string) string {
	return filepath.Join(dir, strings.ToLower(domain), selector+".key")
}

// SaveKey writes key as PKCS#8 PEM, mode 0600, durably (fsync and rename).
func SaveKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding DKIM key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("DKIM key folder: %w", err)
	}
	return durable.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// LoadKey reads a key SaveKey wrote.
func LoadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("DKIM key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("DKIM key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("DKIM key %s: not a signing key", path)
	}
	return s, nil
}

// Record is the TXT record to publish at <selector>._domainkey.<domain>
// for key (RFC 6376 section 3.6.1; k=ed25519 per RFC 8463 section 4.2).
func Record(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", errors.New("unsupported DKIM key type")
}

// RecordName is the DNS name of a selector's key record.
func RecordName(domain, selector string) string {
	return selector + "._domainkey." + strings.ToLower(strings.TrimSuffix(domain, "."))
}

// Sign returns the DKIM-Signature header field (with its CRLF) for msg, a
// whole message with CRLF line endings, signed for domain with selector's
// key. The caller puts it in front of msg.
func Sign(msg []byte, domain, selector string, key crypto.Signer) (string, error) {
	h := oversign(headerSection(msg))
	opts := &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             h,
	}
	s, err := dkim.NewSigner(opts)
	if err != nil {
		return "", fmt.Errorf("DKIM signer: %w", err)
	}
	if _, err := io.Copy(s, bytes.NewReader(msg)); err != nil {
		s.Close()
		return "", fmt.Errorf("DKIM signing: %w", err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("DKIM signing: %w", err)
	}
	return s.Signature(), nil
}

// headerSection is msg up to the empty line that ends its header.
func headerSection(msg []byte) []byte {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2]
	}
	return msg
}

// oversign lists each recommended header field as many times as head has
// it, and From once more.
func oversign(head []byte) []string {
	count := map[string]int{}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		count[strings.ToLower(strings.TrimSpace(string(name)))]++
	}
	var out []string
	for _, k := range SignedHeaders {
		n := count[strings.ToLower(k)]
		if k == "From" {
			n++
		}
		for range n {
			out = append(out, k)
		}
	}
	return out
}

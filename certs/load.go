package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// bundle is what one file (plus its sidecars) holds.
type bundle struct {
	certs []*x509.Certificate
	keys  []crypto.PrivateKey
}

// isPEM reports whether data looks like PEM text.
func isPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// parsePEM reads every certificate and private key in data, in any order.
func parsePEM(data []byte) (bundle, error) {
	var b bundle
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return b, fmt.Errorf("certificate %d: %w", len(b.certs)+1, err)
			}
			b.certs = append(b.certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			k, err := parsePrivateKey(block)
			if err != nil {
				return b, err
			}
			b.keys = append(b.keys, k)
		case "PKCS7", "CERTIFICATE CHAIN":
			// A CA's answer as PEM-armoured PKCS#7 (.p7b saved as text).
			cs, err := parsePKCS7(block.Bytes)
			if err != nil {
				return b, err
			}
			b.certs = append(b.certs, cs...)
		case "ENCRYPTED PRIVATE KEY":
			return b, errors.New("encrypted PKCS#8 private keys are not supported; import a PFX or decrypt the key (openssl pkey)")
		default:
			if block.Headers["Proc-Type"] != "" {
				return b, fmt.Errorf("encrypted PEM block %q is not supported", block.Type)
			}
			// Parameters (EC PARAMETERS), CSRs and the like are ignored.
		}
	}
	return b, nil
}

func parsePrivateKey(block *pem.Block) (crypto.PrivateKey, error) {
	if block.Headers["Proc-Type"] != "" {
		return nil, fmt.Errorf("encrypted %s is not supported; decrypt it first or import a PFX", block.Type)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS#1 private key: %w", err)
		}
		return k, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("EC private key: %w", err)
		}
		return k, nil
	default:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			// Some tools label PKCS#1 or SEC 1 keys "PRIVATE KEY".
			if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
				return k1, nil
			}
			if k2, err2 := x509.ParseECPrivateKey(block.Bytes); err2 == nil {
				return k2, nil
			}
			return nil, fmt.Errorf("PKCS#8 private key: %w", err)
		}
		return k, nil
	}
}

// parsePFX decodes PKCS#12 data.
func parsePFX(data []byte, password string) (bundle, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return bundle{}, fmt.Errorf("PFX: wrong password: %w", err)
		}
		return bundle{}, fmt.Errorf("PFX: %w", err)
	}
	b := bundle{certs: append([]*x509.Certificate{leaf}, cas...)}
	if key != nil {
		b.keys = append(b.keys, key)
	}
	return b, nil
}

// assemble picks the leaf (the certificate matching a key, else the first),
// orders the chain issuer by issuer, and builds the Certificate.
func (b bundle) assemble(path string, requireKey bool) (*Certificate, error) {
	if len(b.certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	if requireKey && len(b.keys) == 0 {
		return nil, errors.New("no private key found (Import needs the certificate together with its private key)")
	}
	leafIdx, keyIdx := -1, -1
	for ki, k := range b.keys {
		for ci, c := range b.certs {
			if keyMatches(c, k) == nil {
				leafIdx, keyIdx = ci, ki
				break
			}
		}
		if leafIdx >= 0 {
			break
		}
	}
	if len(b.keys) > 0 && leafIdx < 0 {
		return nil, fmt.Errorf("the private key does not match the certificate (thumbprint %s) or any other certificate in the data", Thumbprint(b.certs[0].Raw))
	}
	var key crypto.PrivateKey
	if leafIdx < 0 {
		leafIdx = 0
	} else {
		key = b.keys[keyIdx]
	}
	leaf := b.certs[leafIdx]
	rest := make([]*x509.Certificate, 0, len(b.certs)-1)
	for i, c := range b.certs {
		if i != leafIdx && !bytes.Equal(c.Raw, leaf.Raw) {
			rest = append(rest, c)
		}
	}
	return newCertificate(leaf, orderChain(leaf, rest), key, path)
}

// orderChain sorts intermediates so each is followed by its issuer; those
// not on the path from the leaf keep their order at the end.
func orderChain(leaf *x509.Certificate, others []*x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(others))
	used := make([]bool, len(others))
	cur := leaf
	for {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break
		}
		next := -1
		for i, c := range others {
			if !used[i] && bytes.Equal(c.RawSubject, cur.RawIssuer) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		out = append(out, others[next])
		cur = others[next]
	}
	for i, c := range others {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

// storeExts are the file extensions the loader reads on their own.
var storeExts = map[string]bool{".pem": true, ".crt": true, ".cer": true, ".pfx": true, ".p12": true}

// loadFile reads one certificate file of the store with its sidecars.
func loadFile(path string, warn func(msg string, args ...any)) (*Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	ext := strings.ToLower(filepath.Ext(path))
	var b bundle
	switch ext {
	case ".pfx", ".p12":
		password := ""
		pwPath := path + ".password"
		if pw, err := os.ReadFile(pwPath); err == nil {
			password = strings.TrimSuffix(strings.TrimSuffix(string(pw), "\n"), "\r")
			files = append(files, pwPath)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		if b, err = parsePFX(data, password); err != nil {
			return nil, err
		}
	default:
		if isPEM(data) {
			if b, err = parsePEM(data); err != nil {
				return nil, err
			}
		} else if ext == ".crt" || ext == ".cer" {
			c, err := x509.ParseCertificate(data)
			if err != nil {
				return nil, fmt.Errorf("neither PEM nor a DER certificate: %w", err)
			}
			b.certs = []*x509.Certificate{c}
		} else {
			return nil, errors.New("no PEM data found")
		}
		if len(b.keys) == 0 {
			keyPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".key"
			kd, err := os.ReadFile(keyPath)
			switch {
			case err == nil:
				kb, err := parsePEM(kd)
				if err != nil {
					return nil, fmt.Errorf("key file %s: %w", filepath.Base(keyPath), err)
				}
				if len(kb.keys) == 0 {
					return nil, fmt.Errorf("key file %s holds no private key", filepath.Base(keyPath))
				}
				b.keys = kb.keys
				files = append(files, keyPath)
				checkKeyMode(keyPath, warn)
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("read key file: %w", err)
			}
		} else {
			checkKeyMode(path, warn)
		}
	}
	c, err := b.assemble(path, false)
	if err != nil {
		return nil, err
	}
	c.files = files
	return c, nil
}

// checkKeyMode warns when a file holding a private key is readable by others.
func checkKeyMode(path string, warn func(msg string, args ...any)) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		warn("private key file is readable by group or others; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
}

// encodeStorePEM renders a certificate with chain and key as the store's
// <THUMBPRINT>.pem file, with a readable preamble.
func encodeStorePEM(c *Certificate) ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Thumbprint: %s\nSubject: %s\nIssuer: %s\nNotAfter: %s\n",
		c.Thumbprint, c.Subject, c.Issuer, c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
	for _, der := range c.tls.Certificate {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
			return nil, fmt.Errorf("encode certificate: %w", err)
		}
	}
	if c.tls.PrivateKey != nil {
		der, err := x509.MarshalPKCS8PrivateKey(c.tls.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("encode private key: %w", err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			return nil, fmt.Errorf("encode private key: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// encodePFX writes a PKCS#12 file with AES-256 and PBKDF2 (go-pkcs12's
// Modern encoder, which OpenSSL 3 and Windows 10 1709+ read).
func encodePFX(key crypto.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate, password string) ([]byte, error) {
	return pkcs12.Modern.Encode(key, leaf, chain, password)
}

// Package cluster makes several transportd servers one organization
// (issue 14): each member runs an embedded NATS server with JetStream,
// joined to the others by routes over TLS with certificates of the
// cluster's own CA, or connects to an external NATS the admin runs.
//
// The cluster's secrets live in the data folder's cluster/ folder (mode
// 0700): the CA (ca.crt, ca.key), this member's certificate (member.crt,
// member.key), and keys.json with the cluster key (AES-256, which seals
// secrets in the configuration bucket), the join secret and the password
// the members' daemons use on their own NATS. `transportd cluster new`
// makes them and prints a join token; `transportd cluster join TOKEN`
// fetches them from the seed over TLS, pinned to the CA the token names.
package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

// Files of the cluster folder.
const (
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key"
	memberCertFile = "member.crt"
	memberKeyFile  = "member.key"
	keysFile       = "keys.json"
	// JetStreamDir is the JetStream store under the cluster folder.
	JetStreamDir = "jetstream"
)

// Bundle is what every member of a cluster shares: the CA that signs the
// members' route certificates, and the keys.
type Bundle struct {
	// Cluster is the cluster's name.
	Cluster string `json:"cluster"`
	// CACert and CAKey are PEM.
	CACert []byte `json:"ca_cert"`
	CAKey  []byte `json:"ca_key"`
	// Key is the cluster key (32 bytes): AES-256-GCM for the secrets in
	// the configuration bucket.
	Key []byte `json:"key"`
	// JoinSecret lets a new member fetch this bundle (with a join token).
	JoinSecret string `json:"join_secret"`
	// ClientPassword is the daemons' password on their NATS.
	ClientPassword string `json:"client_password"`
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewBundle makes a cluster's CA and keys.
func NewBundle(cluster string) (*Bundle, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster CA key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "transportd cluster " + cluster + " CA", Organization: []string{"transportd"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	ck := make([]byte, 32)
	if _, err := rand.Read(ck); err != nil {
		return nil, err
	}
	return &Bundle{
		Cluster: cluster,
		CACert:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		CAKey:   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		Key:     ck, JoinSecret: randomString(24), ClientPassword: randomString(24),
	}, nil
}

type keysDoc struct {
	Cluster        string `json:"cluster"`
	Key            []byte `json:"key"`
	JoinSecret     string `json:"join_secret"`
	ClientPassword string `json:"client_password"`
}

// Save writes the bundle to dir (the cluster folder), owner-only.
func (b *Bundle) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster folder: %w", err)
	}
	keys, err := json.MarshalIndent(keysDoc{b.Cluster, b.Key, b.JoinSecret, b.ClientPassword}, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{caCertFile, b.CACert}, {caKeyFile, b.CAKey}, {keysFile, keys}} {
		if err := durable.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return nil
}

// LoadBundle reads the bundle from dir.
func LoadBundle(dir string) (*Bundle, error) {
	var b Bundle
	var err error
	if b.CACert, err = os.ReadFile(filepath.Join(dir, caCertFile)); err != nil {
		return nil, fmt.Errorf("cluster CA: %w (run transportd cluster new, or cluster join)", err)
	}
	if b.CAKey, err = os.ReadFile(filepath.Join(dir, caKeyFile)); err != nil {
		return nil, fmt.Errorf("cluster CA key: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, keysFile))
	if err != nil {
		return nil, fmt.Errorf("cluster keys: %w", err)
	}
	var k keysDoc
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, keysFile), err)
	}
	if len(k.Key) != 32 {
		return nil, fmt.Errorf("%s: the cluster key is not 32 bytes", filepath.Join(dir, keysFile))
	}
	b.Cluster, b.Key, b.JoinSecret, b.ClientPassword = k.Cluster, k.Key, k.JoinSecret, k.ClientPassword
	return &b, nil
}

func (b *Bundle) caPool() (*x509.CertPool, *x509.Certificate, error) {
	blk, _ := pem.Decode(b.CACert)
	if blk == nil {
		return nil, nil, errors.New("cluster CA: no PEM certificate")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster CA: %w", err)
	}
	p := x509.NewCertPool()
	p.AddCert(ca)
	return p, ca, nil
}

// Pin is the SHA-256 of the CA certificate, hex: what a join token pins.
func (b *Bundle) Pin() (string, error) {
	_, ca, err := b.caPool()
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(ca.Raw)
	return hex.EncodeToString(s[:]), nil
}

// IssueMember makes this member's certificate, signed by the cluster CA,
// for the names and addresses hosts (plus localhost and loopback), and
// writes it to dir with the CA after it.
func (b *Bundle) IssueMember(dir, member string, hosts []string) error {
	_, ca, err := b.caPool()
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b.CAKey)
	if blk == nil {
		return errors.New("cluster CA key: no PEM key")
	}
	caKey, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return fmt.Errorf("cluster CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: member, Organization: []string{"transportd cluster " + b.Cluster}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		h = strings.Trim(strings.TrimSpace(h), "[]")
		if h == "" || h == "0.0.0.0" || h == "::" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("member certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	var chain bytes.Buffer
	pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain.Write(b.CACert)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := durable.WriteFile(filepath.Join(dir, memberKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, memberCertFile), chain.Bytes(), 0o600)
}

// tlsConfigs returns the TLS settings of this member: server side (client
// and route ports, client certificates of the cluster CA required on
// routes) and client side (routes, the daemon's own connection).
func (b *Bundle) tlsConfigs(dir string) (routes, client, dial *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, memberCertFile), filepath.Join(dir, memberKeyFile))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("member certificate: %w", err)
	}
	pool, _, err := b.caPool()
	if err != nil {
		return nil, nil, nil, err
	}
	routes = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientCAs: pool, RootCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	client = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	dial = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}}
	return routes, client, dial, nil
}

// Token is what `cluster new` prints and `cluster join` takes: where the
// seed is, the CA it must present, and the secret that lets the new member
// fetch the cluster's keys.
type Token struct {
	Seed   string `json:"s"` // host:port of the seed's NATS client port
	Pin    string `json:"p"` // SHA-256 of the cluster CA, hex
	Secret string `json:"k"`

	// Issue 14: a token expires (Exp, Unix seconds) and belongs to the
	// cluster's current join epoch (Epoch; cluster token -Rotate starts a
	// new one, revoking every token issued before); Mac binds both to the
	// CA pin under a key derived from the cluster key, so that the join
	// secret a token carries cannot make another token (jointoken.go).
	Exp   int64  `json:"e,omitempty"`
	Epoch uint64 `json:"g,omitempty"`
	Mac   string `json:"m,omitempty"`
}

const tokenPrefix = "TDJ1-"

// String encodes the token.
func (t Token) String() string {
	data, _ := json.Marshal(t)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(data)
}

// ParseToken decodes a join token.
func ParseToken(s string) (Token, error) {
	var t Token
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, tokenPrefix) {
		return t, errors.New("not a join token: it starts with " + tokenPrefix + " (transportd cluster new, or cluster token on a member, prints one)")
	}
	data, err := base64.RawURLEncoding.DecodeString(s[len(tokenPrefix):])
	if err == nil {
		err = json.Unmarshal(data, &t)
	}
	if err != nil || t.Seed == "" || len(t.Pin) != 64 || t.Secret == "" {
		return Token{}, errors.New("the join token is damaged: copy it again whole")
	}
	return t, nil
}

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// joinRequest is what a joining member sends.
type joinRequest struct {
	Member string `json:"member"`
	Fqdn   string `json:"fqdn"`
	// The token's expiry, epoch and MAC, which the seed checks
	// (Node.checkToken).
	Exp   int64  `json:"exp,omitempty"`
	Epoch uint64 `json:"epoch,omitempty"`
	Mac   string `json:"mac,omitempty"`
}

// JoinReply is what the seed answers: the cluster's bundle and the routes
// of the members it knows.
type JoinReply struct {
	Error  string   `json:"error,omitempty"`
	Bundle *Bundle  `json:"bundle,omitempty"`
	Routes []string `json:"routes,omitempty"`
}

// answerJoin answers a join request (only the join user, who knows the
// join secret, may send one).
func (n *Node) answerJoin(msg *nats.Msg) {
	var req joinRequest
	reply := JoinReply{}
	if err := json.Unmarshal(msg.Data, &req); err != nil || req.Member == "" {
		reply.Error = "bad join request"
	} else if err := n.checkToken(req, time.Now()); err != nil {
		reply.Error = err.Error()
	} else if strings.EqualFold(req.Member, n.opts.Member) {
		reply.Error = fmt.Sprintf("this seed is named %s too: members need different names (transportd transportservice set -Name on the new member... or Server.Name in its configuration)", req.Member)
	} else {
		for _, m := range n.Members() {
			if strings.EqualFold(m.Name, req.Member) && m.State == "Up" && !strings.EqualFold(m.Fqdn, req.Fqdn) {
				reply.Error = fmt.Sprintf("a member named %s (%s) is up: give the new member another Server.Name", m.Name, m.Fqdn)
			}
		}
	}
	if reply.Error == "" {
		reply.Bundle = n.bundle
		if n.ns != nil {
			reply.Routes = append(reply.Routes, net.JoinHostPort(n.opts.Advertise, strconv.Itoa(n.opts.Cluster.RoutePortOrDefault())))
		}
		for _, m := range n.Members() {
			if m.Route != "" && !strings.EqualFold(m.Name, req.Member) && !containsString(reply.Routes, m.Route) {
				reply.Routes = append(reply.Routes, m.Route)
			}
		}
		n.log.Info("a new member fetched the cluster's keys with the join token", "member", req.Member, "fqdn", req.Fqdn)
	} else {
		n.log.Warn("join refused", "member", req.Member, "reason", reply.Error)
	}
	data, _ := json.Marshal(reply)
	msg.Respond(data)
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// joinTries is how many times Join tries to reach the seed.
const joinTries = 5

// Join fetches the cluster's bundle from the seed a token names, over TLS
// pinned to the token's CA, for the member named member.
func Join(ctx context.Context, tok Token, member, fqdn string) (*JoinReply, error) {
	pin, err := hex.DecodeString(tok.Pin)
	if err != nil {
		return nil, errors.New("the join token is damaged: copy it again whole")
	}
	tlsc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, // verified against the pin below
		VerifyConnection: func(cs tls.ConnectionState) error { return verifyPinned(cs.PeerCertificates, pin) }}
	// A seed that has just started can drop the first connections (seen
	// as an EOF after the TLS handshake): a few more tries, a second apart.
	var nc *nats.Conn
	for try := 1; ; try++ {
		nc, err = nats.Connect("tls://"+tok.Seed, nats.Secure(tlsc), nats.UserInfo(joinUser, tok.Secret),
			nats.Name("transportd join "+member), nats.Timeout(10*time.Second), nats.NoReconnect())
		if err == nil || try == joinTries || errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "pin") {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reaching the seed %s (is its transportd running, restarted after cluster new, and its Cluster.ClientPort open?): %w", tok.Seed, err)
	}
	defer nc.Close()
	data, _ := json.Marshal(joinRequest{Member: member, Fqdn: fqdn, Exp: tok.Exp, Epoch: tok.Epoch, Mac: tok.Mac})
	msg, err := nc.RequestWithContext(ctx, joinSubject, data)
	if err != nil {
		return nil, fmt.Errorf("asking the seed %s for the cluster's keys: %w", tok.Seed, err)
	}
	var reply JoinReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("the seed's answer: %w", err)
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("the seed refused: %s", reply.Error)
	}
	if reply.Bundle == nil {
		return nil, errors.New("the seed sent no keys")
	}
	if p, err := reply.Bundle.Pin(); err != nil || p != tok.Pin {
		return nil, errors.New("the seed sent a CA other than the token's")
	}
	return &reply, nil
}

// verifyPinned checks that the chain ends in the pinned CA and that the
// leaf is signed by it.
func verifyPinned(chain []*x509.Certificate, pin []byte) error {
	if len(chain) < 2 {
		return errors.New("the seed presented no cluster CA")
	}
	ca := chain[len(chain)-1]
	sum := sha256.Sum256(ca.Raw)
	if !bytes.Equal(sum[:], pin) {
		return errors.New("the seed's certificate is not of the cluster the token names (CA pin mismatch)")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the seed's certificate: %w", err)
	}
	return nil
}

// TokenFor makes the join token of this member: its advertised client
// port, the CA pin and the join secret.
func TokenFor(b *Bundle, advertise string, clientPort int) (Token, error) {
	pin, err := b.Pin()
	if err != nil {
		return Token{}, err
	}
	return Token{Seed: net.JoinHostPort(advertise, strconv.Itoa(clientPort)), Pin: pin, Secret: b.JoinSecret}, nil
}

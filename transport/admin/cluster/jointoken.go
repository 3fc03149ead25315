package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/durable"
)

// Join tokens expire and can all be revoked at once (issue 14). A token
// names the join epoch it was issued in and when it expires, with a MAC
// under a key derived from the cluster key and the epoch; the seed
// checks all three before it hands out the cluster's keys. The epoch is
// the cluster's, kept in the configuration bucket under joinKey, so that
// `cluster token -Rotate` on any member revokes the tokens of every member.

// DefaultTokenLifetime is how long a join token is valid unless
// -ValidFor says otherwise.
const DefaultTokenLifetime = 24 * time.Hour

// joinKey is the configuration bucket's key of the join epoch.
const joinKey = "join"

// joinEpochFile is where the daemon keeps the epoch for the management
// commands of the same member, which issue tokens without it.
const joinEpochFile = "join-epoch"

// IssueToken makes a join token of this member valid for validFor from
// now, in the join epoch epoch.
func IssueToken(b *Bundle, advertise string, clientPort int, epoch uint64, validFor time.Duration, now time.Time) (Token, error) {
	if validFor <= 0 {
		return Token{}, errors.New("-ValidFor: give a lifetime longer than zero, such as 1h or 01:00:00")
	}
	tok, err := TokenFor(b, advertise, clientPort)
	if err != nil {
		return Token{}, err
	}
	tok.Exp, tok.Epoch = now.Add(validFor).Unix(), epoch
	tok.Mac = tokenMac(b.Key, tok.Pin, tok.Exp, tok.Epoch)
	return tok, nil
}

// Expires is when the token stops being valid (zero: a token of a
// release without expiry).
func (t Token) Expires() time.Time {
	if t.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(t.Exp, 0)
}

func tokenMac(clusterKey []byte, pin string, exp int64, epoch uint64) string {
	k := hmac.New(sha256.New, clusterKey)
	k.Write([]byte("transportd join tokens, epoch " + strconv.FormatUint(epoch, 10)))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(pin + "|" + strconv.FormatInt(exp, 10) + "|" + strconv.FormatUint(epoch, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// fix is what every refusal of a token tells the admin to do.
const tokenFix = "get a new one on any member with transportd cluster token (Get-TransportClusterJoinToken; -ValidFor sets its lifetime) and run cluster join with it"

// checkToken is the seed's judgement of a joining member's token.
func (n *Node) checkToken(req joinRequest, now time.Time) error {
	epoch, known := n.joinEpochNow()
	switch {
	case !known:
		return errors.New("the seed cannot tell which join tokens are valid yet: try again in a few seconds")
	case req.Exp == 0 || req.Mac == "":
		return errors.New("the join token has no expiry: it was made by an older transportd; " + tokenFix)
	case !hmac.Equal([]byte(req.Mac), []byte(tokenMac(n.bundle.Key, n.pin(), req.Exp, req.Epoch))):
		return errors.New("the join token is not one of this cluster's (or it was altered); " + tokenFix)
	case req.Epoch != epoch:
		return errors.New("the join token was revoked: every token issued before the last transportd cluster token -Rotate is; " + tokenFix)
	case now.Unix() >= req.Exp:
		return fmt.Errorf("the join token expired at %s; %s", time.Unix(req.Exp, 0).UTC().Format(time.RFC3339), tokenFix)
	}
	return nil
}

// joinEpochNow is the cluster's join epoch as this member last read it
// from the bucket, or, until it has (a lone first member has no JetStream
// before the second joins), as it last wrote it to its cluster folder.
func (n *Node) joinEpochNow() (uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.joinEpochKnown {
		return LocalJoinEpoch(n.opts.Dir), true
	}
	return n.joinEpoch, true
}

// joinEpochRead tells whether the bucket's join epoch has been read.
func (n *Node) joinEpochRead() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.joinEpochKnown
}

func (n *Node) setJoinEpoch(e uint64) {
	n.mu.Lock()
	changed := !n.joinEpochKnown || n.joinEpoch != e
	n.joinEpoch, n.joinEpochKnown = e, true
	n.mu.Unlock()
	if changed {
		if err := durable.WriteFile(filepath.Join(n.opts.Dir, joinEpochFile), []byte(strconv.FormatUint(e, 10)+"\n"), 0o600); err != nil {
			n.log.Warn("could not keep the cluster's join epoch for cluster token; tokens made on this member may be refused as revoked", "err", err)
		}
	}
}

// LocalJoinEpoch is the join epoch the running daemon of the member whose
// cluster folder is dir last wrote (0 before any rotation).
func LocalJoinEpoch(dir string) uint64 {
	data, err := os.ReadFile(filepath.Join(dir, joinEpochFile))
	if err != nil {
		return 0
	}
	e, _ := strconv.ParseUint(string(trimNL(data)), 10, 64)
	return e
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

type joinState struct {
	Epoch uint64 `json:"epoch"`
}

// joinEpochSeen takes the join epoch from a configuration bucket entry
// of joinKey; nil: the bucket's current values have all been seen (no
// entry: the epoch is the one this member kept, 0 on a new cluster).
func (n *Node) joinEpochSeen(e jetstream.KeyValueEntry) {
	if e == nil {
		if !n.joinEpochRead() {
			n.setJoinEpoch(LocalJoinEpoch(n.opts.Dir))
		}
		return
	}
	var st joinState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		n.log.Error("the cluster's join epoch is damaged; join tokens are judged by the last one read", "err", err)
		return
	}
	n.setJoinEpoch(st.Epoch)
}

// rotateJoin starts a new join epoch in kv: every token issued so far is
// refused from now on, by every member.
func (n *Node) rotateJoin(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	for range 5 {
		var cur joinState
		var rev uint64
		e, err := kv.Get(ctx, joinKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, fmt.Errorf("reading the cluster's join epoch: %w", err)
		default:
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return 0, fmt.Errorf("the cluster's join epoch: %w", err)
			}
			rev = e.Revision()
		}
		next := joinState{Epoch: cur.Epoch + 1}
		data, _ := json.Marshal(next)
		if rev == 0 {
			_, err = kv.Create(ctx, joinKey, data)
		} else {
			_, err = kv.Update(ctx, joinKey, data, rev)
		}
		if err == nil {
			n.setJoinEpoch(next.Epoch)
			n.log.Warn("join tokens rotated: every join token issued before is refused from now on", "epoch", next.Epoch)
			return next.Epoch, nil
		}
		if !isConflict(err) {
			return 0, fmt.Errorf("writing the cluster's join epoch: %w", err)
		}
	}
	return 0, errors.New("the cluster's join epoch changed five times meanwhile: run the command again")
}

// pin is the cluster CA's pin ("" if the CA cannot be read, which no MAC
// then matches).
func (n *Node) pin() string {
	p, _ := n.bundle.Pin()
	return p
}

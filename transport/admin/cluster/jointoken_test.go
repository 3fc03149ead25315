package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// The seed refuses a token that expired, one altered to live longer, one
// of an older release without expiry, and one issued before the last
// rotation, each with an error on the joining side that names the fix;
// a token of the current epoch within its lifetime is taken.
func TestJoinTokenExpiryAndRotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ports := freePorts(t, 2)
	b, err := NewBundle("contoso")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	if err := b.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := b.IssueMember(dir, "MAIL1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	seed, err := Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", Address: "127.0.0.1", ClientPort: ports[0], RoutePort: ports[1]},
		Member: "MAIL1", Fqdn: "mail1.contoso.com", Advertise: "127.0.0.1", Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	issue := func(epoch uint64, validFor time.Duration, at time.Time) Token {
		tok, err := IssueToken(b, "127.0.0.1", ports[0], epoch, validFor, at)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("token round trip: %+v %v", back, err)
		}
		return back
	}
	refused := func(tok Token, want string) {
		t.Helper()
		_, err := Join(ctx, tok, "MAIL2", "mail2.contoso.com")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "transportd cluster token") {
			t.Errorf("join with a token that should be refused (%s): %v", want, err)
		}
	}
	if _, err := Join(ctx, issue(0, time.Hour, time.Now()), "MAIL2", "mail2.contoso.com"); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	refused(issue(0, time.Hour, time.Now().Add(-2*time.Hour)), "expired")
	longer := issue(0, time.Minute, time.Now().Add(-time.Hour))
	longer.Exp += 2 * 3600
	refused(longer, "not one of this cluster's")
	old, _ := TokenFor(b, "127.0.0.1", ports[0])
	refused(old, "no expiry")
	if _, err := IssueToken(b, "127.0.0.1", ports[0], 0, 0, time.Now()); err == nil {
		t.Error("a token valid for no time was issued")
	}

	// A rotation (as the bucket tells it) revokes the tokens issued before.
	before := issue(0, time.Hour, time.Now())
	seed.setJoinEpoch(1)
	refused(before, "revoked")
	if _, err := Join(ctx, issue(1, time.Hour, time.Now()), "MAIL2", "mail2.contoso.com"); err != nil {
		t.Fatalf("a token of the new epoch: %v", err)
	}
	if LocalJoinEpoch(dir) != 1 {
		t.Errorf("the member's cluster folder holds epoch %d, not 1 (cluster token issues with it)", LocalJoinEpoch(dir))
	}
}

// cluster token -Rotate on one member starts a new join epoch that every
// member reads from the configuration bucket and keeps for its own
// cluster token.
func TestRotateJoinReachesEveryMember(t *testing.T) {
	ms := startSyncMembers(t, 2)
	waitFor(t, "configuration bucket open", func() string {
		ms[0].cs.mu.Lock()
		defer ms[0].cs.mu.Unlock()
		if ms[0].cs.kv == nil {
			return "not yet"
		}
		return ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := ms[0].cs.RotateJoin(ctx)
	if err != nil || e != 1 {
		t.Fatalf("rotate: epoch %d, %v", e, err)
	}
	if e, err = ms[0].cs.RotateJoin(ctx); err != nil || e != 2 {
		t.Fatalf("second rotation: epoch %d, %v", e, err)
	}
	waitFor(t, "MAIL2 reads the new join epoch", func() string {
		if e, _ := ms[1].node.joinEpochNow(); e != 2 || LocalJoinEpoch(ms[1].node.opts.Dir) != 2 {
			return "not yet"
		}
		return ""
	})
}

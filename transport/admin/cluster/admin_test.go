package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// TestAdminRequestReply runs a member that answers management requests on
// its subject: a result comes back decoded, the member's error comes back
// as a RemoteError with its text, and a member nobody runs is ErrNoAnswer
// at once (NATS has no responder), not after the timeout.
func TestAdminRequestReply(t *testing.T) {
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
	n, err := Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", Address: "127.0.0.1", ClientPort: ports[0], RoutePort: ports[1]},
		Member: "MAIL1", Fqdn: "mail1.contoso.com", Advertise: "127.0.0.1", Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.ServeAdmin(sctx, func(_ context.Context, op string, args json.RawMessage) (any, error) {
			if op == "fail" {
				return nil, errors.New("no message matches identity \"x\"")
			}
			var in map[string]string
			if err := json.Unmarshal(args, &in); err != nil {
				return nil, err
			}
			return map[string]string{"op": op, "echo": in["identity"]}, nil
		}); err != nil {
			t.Error(err)
		}
	}()
	defer func() { stop(); wg.Wait() }()

	var out map[string]string
	// The subscription may not be in place at the first call.
	for {
		err = n.CallAdmin(ctx, "mail1", "message.get", map[string]string{"identity": `MAIL1\Smart\1`}, &out)
		if !errors.Is(err, ErrNoAnswer) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the subscription reaches the server
	}
	if err != nil || out["op"] != "message.get" || out["echo"] != `MAIL1\Smart\1` {
		t.Fatalf("CallAdmin: %v %v", out, err)
	}
	var re *RemoteError
	if err := n.CallAdmin(ctx, "MAIL1", "fail", nil, nil); !errors.As(err, &re) || re.Member != "MAIL1" || re.Text != `no message matches identity "x"` {
		t.Fatalf("a member's error: %#v", err)
	}
	began := time.Now()
	if err := n.CallAdmin(ctx, "MAIL9", "message.get", nil, nil); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("a member nobody runs: %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("ErrNoAnswer after %v: NATS's no-responders answer should be immediate", d)
	}
	if got := AdminSubject("mail.2 x"); got != "transportd.admin.MAIL_2_X" {
		t.Errorf("AdminSubject: %s", got)
	}
}

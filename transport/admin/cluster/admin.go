package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// Issue 14 item 4: the management operations one member asks another to
// carry out (Get-Queue, Suspend-Message, Get-MessageTrackingLog, ... on a
// message or queue another member holds). Each member answers requests on
// its own subject, transportd.admin.<MEMBER>, over the daemon's
// connection: only the members' client user may publish there (the join
// user may publish only on transportd.cluster.join), so the subject is
// authorised like the cluster's other subjects.

// adminSubjectPrefix is followed by the member's name, in capitals.
const adminSubjectPrefix = "transportd.admin."

// AdminHandler serves one management operation on this member; args and
// the result are JSON, as on the control socket.
type AdminHandler func(ctx context.Context, op string, args json.RawMessage) (any, error)

// ErrNoAnswer is CallAdmin's error when the member does not answer: it is
// not running, or cut off from this one.
var ErrNoAnswer = errors.New("the member does not answer")

type adminRequest struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type adminReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// AdminSubject is the subject member answers management requests on.
func AdminSubject(member string) string {
	// A subject token holds no dots, spaces or wildcards.
	return adminSubjectPrefix + strings.Map(func(r rune) rune {
		switch r {
		case '.', ' ', '\t', '*', '>':
			return '_'
		}
		return r
	}, strings.ToUpper(member))
}

// ServeAdmin answers the management requests addressed to this member
// with h until ctx ends; it returns once the subscription is closed and
// every request in progress answered.
func (n *Node) ServeAdmin(ctx context.Context, h AdminHandler) error {
	var (
		mu     sync.Mutex
		closed bool
		active sync.WaitGroup
	)
	sub, err := n.nc.Subscribe(AdminSubject(n.Name()), func(m *nats.Msg) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		active.Add(1)
		mu.Unlock()
		defer active.Done()
		var req adminRequest
		var rep adminReply
		if err := json.Unmarshal(m.Data, &req); err != nil {
			rep.Error = "bad management request: " + err.Error()
		} else if res, err := h(ctx, req.Op, req.Args); err != nil {
			rep.Error = err.Error()
		} else if rep.Result, err = json.Marshal(res); err != nil {
			rep.Error = "encoding the answer: " + err.Error()
		}
		data, _ := json.Marshal(rep)
		if err := m.Respond(data); err != nil {
			n.log.Warn("answering a management request of another member", "op", req.Op, "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("answering management requests on %s: %w", AdminSubject(n.Name()), err)
	}
	<-ctx.Done()
	err = sub.Unsubscribe()
	mu.Lock()
	closed = true
	mu.Unlock()
	active.Wait()
	return err
}

// CallAdmin asks member to carry out op with args and decodes its result
// into out. An error the member returns comes back as an error with its
// text; ErrNoAnswer when nobody answers.
func (n *Node) CallAdmin(ctx context.Context, member, op string, args, out any) error {
	a, err := json.Marshal(args)
	if err != nil {
		return err
	}
	data, err := json.Marshal(adminRequest{Op: op, Args: a})
	if err != nil {
		return err
	}
	m, err := n.nc.RequestWithContext(ctx, AdminSubject(member), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%s: %w (%w)", member, ErrNoAnswer, nats.ErrNoResponders)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%s: %w", member, ErrNoAnswer)
	case err != nil:
		return fmt.Errorf("asking %s: %w", member, err)
	}
	var rep adminReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return fmt.Errorf("the answer of %s: %w", member, err)
	}
	if rep.Error != "" {
		return &RemoteError{Member: member, Text: rep.Error}
	}
	if out == nil || len(rep.Result) == 0 {
		return nil
	}
	if err := json.Unmarshal(rep.Result, out); err != nil {
		return fmt.Errorf("the answer of %s: %w", member, err)
	}
	return nil
}

// RemoteError is an error another member returned for an operation.
type RemoteError struct {
	Member, Text string
}

func (e *RemoteError) Error() string { return e.Member + ": " + e.Text }

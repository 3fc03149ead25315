package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/queue/journal"
	"github.com/transportd/transportd/transport/mail/queue/jsstore"
)

// sharedQueueWait bounds how long a starting member waits for JetStream
// (a meta leader needs most members up) before it gives up starting.
const sharedQueueWait = 2 * time.Minute

// openSharedQueue opens the cluster's shared queue (issue 14, shadow
// redundancy) for a member: JetStream streams replicated on R3 once the
// cluster has three members (R1 with a loud warning before), kept at that
// count as members join.
func openSharedQueue(ctx context.Context, node *cluster.Node, name string, log *slog.Logger) (*jsstore.Store, error) {
	wctx, cancel := context.WithTimeout(ctx, sharedQueueWait)
	defer cancel()
	log.Info("waiting for the cluster's JetStream to open the shared queue")
	if err := node.WaitReady(wctx); err != nil {
		return nil, fmt.Errorf("shared queue: %w; start more members (most of them must be up) or check the routes with transportd cluster status", err)
	}
	replicas := node.Replicas()
	if r, warn := jsstore.Replicas(len(node.Members())); warn != "" && r >= replicas {
		log.Warn(warn)
	}
	var st *jsstore.Store
	var err error
	for {
		st, err = jsstore.Open(wctx, jsstore.Options{JS: node.JetStream(), Server: name, Replicas: replicas, Logger: log})
		if err == nil || wctx.Err() != nil {
			break
		}
		log.Info("shared queue not open yet; trying again", "err", err)
		select {
		case <-wctx.Done():
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("shared queue: %w", err)
	}
	for _, s := range jsstore.Streams("") {
		node.KeepReplicated(s)
	}
	return st, nil
}

// moveJournal moves the messages of this member's local journal into the
// shared queue (a server that joined a cluster with mail queued), with
// their ids and saved states, losing and duplicating nothing when it is
// cut short and run again at the next start (jsstore.Store.Migrate).
func moveJournal(ctx context.Context, disk *journal.Journal, shared *jsstore.Store, log *slog.Logger) error {
	_, err := shared.Migrate(ctx, disk)
	return err
}

// lateStore is the queue store of a cluster member until its shared
// queue is open: the daemon starts and listens at once (a first member
// waits for the others before JetStream answers), refusing mail with 451
// until JetStream takes it; then every call goes to the shared queue, and
// the messages this member owns join the manager (Manager.Adopt).
type lateStore struct {
	st atomic.Pointer[jsstore.Store]

	// opened is closed once st is set (set, whenOpen).
	openMu sync.Mutex
	opened chan struct{}
}

// set makes st the store every call goes to from now on.
func (l *lateStore) set(st *jsstore.Store) {
	l.st.Store(st)
	close(l.whenOpen())
}

// whenOpen is closed once the shared queue is open (set).
func (l *lateStore) whenOpen() chan struct{} {
	l.openMu.Lock()
	defer l.openMu.Unlock()
	if l.opened == nil {
		l.opened = make(chan struct{})
	}
	return l.opened
}

var errNotOpen = fmt.Errorf("%w (the cluster's JetStream is not available yet)", jsstore.Unavailable)

func (l *lateStore) store() (*jsstore.Store, error) {
	if st := l.st.Load(); st != nil {
		return st, nil
	}
	return nil, errNotOpen
}

// NewID implements the manager's id source.
func (l *lateStore) NewID() string {
	if st := l.st.Load(); st != nil {
		return st.NewID()
	}
	return (&jsstore.Store{}).NewID()
}

func (l *lateStore) Enqueue(ctx context.Context, env queue.Envelope, body io.Reader) (string, error) {
	st, err := l.store()
	if err != nil {
		return "", err
	}
	return st.Enqueue(ctx, env, body)
}

// Load finds nothing: the owned messages are adopted once the store opens.
func (l *lateStore) Load() ([]queue.Stored, error) { return nil, nil }

func (l *lateStore) Open(id string) (io.ReadCloser, error) {
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	return st.Open(id)
}

func (l *lateStore) SaveState(id string, state *queue.State) error {
	st, err := l.store()
	if err != nil {
		return err
	}
	return st.SaveState(id, state)
}

func (l *lateStore) Remove(id string) error {
	st, err := l.store()
	if err != nil {
		return err
	}
	return st.Remove(id)
}

func (l *lateStore) Claim(id string) error {
	st, err := l.store()
	if err != nil {
		return err
	}
	return st.Claim(id)
}

// EndDelivery passes the end of a delivery attempt on to the shared queue
// (queue.DeliveryEnder: the in-flight mark of poison detection).
func (l *lateStore) EndDelivery(id string) {
	if st := l.st.Load(); st != nil {
		st.EndDelivery(id)
	}
}

// runSharedQueue opens the shared queue, moves the local journal into it,
// hands this member's messages to the manager and then takes over the
// messages of members that died, until ctx ends.
func (s *Service) runSharedQueue(ctx context.Context) {
	log := s.log.With("component", "queue")
	st, err := openSharedQueue(ctx, s.clusterNode, s.Config().Server.Name, log)
	for err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Error("the shared queue is not open: mail is refused with 451 until it is", "err", err)
		st, err = openSharedQueue(ctx, s.clusterNode, s.Config().Server.Name, log)
	}
	if err := moveJournal(ctx, s.store, st, log); err != nil {
		log.Error("the local queue could not be moved into the shared queue; it stays on this server's disk and is tried again at the next start", "err", err)
	}
	owned, err := st.Load()
	if err != nil {
		log.Error("reading this member's messages in the shared queue", "err", err)
	}
	s.late.set(st)
	for _, m := range owned {
		s.queue.Adopt(m)
	}
	log.Info("shared queue open", "replicas", s.clusterNode.Replicas(), "messages", len(owned))
	st.Run(ctx, s.queue.Adopt, s.queue.Forget)
}

// sharedQueueRefusal is the reply to a message the shared queue could not
// store on a quorum: 451 4.3.0 with the reason, so the client tries again.
func sharedQueueRefusal(err error) error {
	if !errors.Is(err, jsstore.Unavailable) {
		return err
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: jsstore.Unavailable.Message}
}

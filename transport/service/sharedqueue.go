package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/durable"
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

// sharedQueueMarker is the file, in the cluster folder, that says this
// member has opened the shared queue: from then on it never queues on its
// own journal again (cut off from the others, it refuses mail with 451).
const sharedQueueMarker = "shared-queue-opened"

// lateStore is the queue store of a cluster member (issue 14).
//
// A member that has never opened the shared queue (a lone first member,
// or one of two) queues on its own journal, fsynced as a single server's,
// and delivers from it: a cluster of one has no JetStream (a JetStream
// meta group needs two servers) and one of two would keep the only copy
// anyway. Once three members are known it opens the shared queue, whose
// streams are then created at R3 from the start (never scaled from R1: a
// member killed while new replicas catch up leaves the stream without a
// quorum), and moves its journal there (moveToShared).
//
// A member that has opened the shared queue before starts refusing mail
// with 451 until JetStream takes it; then every call goes to the shared
// queue, and the messages this member owns join the manager
// (Manager.Adopt).
type lateStore struct {
	st     atomic.Pointer[jsstore.Store]
	marker string

	// enq is held for reading by an Enqueue into the journal and for
	// writing by moveToShared, which waits for them.
	enq sync.RWMutex
	// mu guards the fields below.
	mu        sync.Mutex
	disk      *journal.Journal // non-nil while this member queues on its journal
	onDisk    map[string]bool  // the messages in the journal, while disk is set
	switching bool             // the journal is moving into the shared queue
	switched  chan struct{}    // closed once it has

	// opened is closed once st is set (endSwitch, whenOpen).
	openMu sync.Mutex
	opened chan struct{}
}

// queuesOnJournal reports whether this member still queues on its own journal
// (it never opened the shared queue) and how many messages are in it.
func (l *lateStore) queuesOnJournal() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.disk != nil && !l.switching, len(l.onDisk)
}

// whenOpen is closed once the shared queue is open (endSwitch).
func (l *lateStore) whenOpen() chan struct{} {
	l.openMu.Lock()
	defer l.openMu.Unlock()
	if l.opened == nil {
		l.opened = make(chan struct{})
	}
	return l.opened
}

// newLateStore returns the queue store of a cluster member whose local
// journal is disk and cluster folder dir.
func newLateStore(disk *journal.Journal, dir string) *lateStore {
	l := &lateStore{marker: filepath.Join(dir, sharedQueueMarker), switched: make(chan struct{})}
	if _, err := os.Stat(l.marker); errors.Is(err, fs.ErrNotExist) {
		l.disk, l.onDisk = disk, map[string]bool{}
	} else {
		close(l.switched)
	}
	return l
}

var errNotOpen = fmt.Errorf("%w (the cluster's JetStream is not available yet)", jsstore.Unavailable)

// switchWait bounds how long a message waits for the journal's move into
// the shared queue before it is refused with 451.
const switchWait = 30 * time.Second

func (l *lateStore) store() (*jsstore.Store, error) {
	if st := l.st.Load(); st != nil {
		return st, nil
	}
	return nil, errNotOpen
}

// onJournal reports whether id is a message in this member's journal, and
// the journal.
func (l *lateStore) onJournal(id string) (*journal.Journal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.disk, l.disk != nil && l.onDisk[id]
}

// NewID implements the manager's id source.
func (l *lateStore) NewID() string {
	if st := l.st.Load(); st != nil {
		return st.NewID()
	}
	return (&jsstore.Store{}).NewID()
}

func (l *lateStore) Enqueue(ctx context.Context, env queue.Envelope, body io.Reader) (string, error) {
	l.enq.RLock()
	l.mu.Lock()
	disk := l.disk
	if l.switching {
		disk = nil
	}
	l.mu.Unlock()
	if disk != nil {
		defer l.enq.RUnlock()
		id, err := disk.Enqueue(ctx, env, body)
		if err == nil {
			l.mu.Lock()
			l.onDisk[id] = true
			l.mu.Unlock()
		}
		return id, err
	}
	l.enq.RUnlock()
	select {
	case <-l.switched:
	default: // the journal is moving into the shared queue: seconds
		t := time.NewTimer(switchWait)
		select {
		case <-l.switched:
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
		t.Stop()
	}
	st, err := l.store()
	if err != nil {
		return "", err
	}
	return st.Enqueue(ctx, env, body)
}

// Load finds the journal's messages while this member queues there, else
// nothing: the owned messages are adopted once the shared queue opens.
func (l *lateStore) Load() ([]queue.Stored, error) {
	l.mu.Lock()
	disk := l.disk
	l.mu.Unlock()
	if disk == nil {
		return nil, nil
	}
	ms, err := disk.Load()
	l.mu.Lock()
	for _, m := range ms {
		l.onDisk[m.Envelope.ID] = true
	}
	l.mu.Unlock()
	return ms, err
}

func (l *lateStore) Open(id string) (io.ReadCloser, error) {
	if disk, ok := l.onJournal(id); ok {
		return disk.Open(id)
	}
	st, err := l.store()
	if err != nil {
		return nil, err
	}
	return st.Open(id)
}

func (l *lateStore) SaveState(id string, state *queue.State) error {
	if disk, ok := l.onJournal(id); ok {
		return disk.SaveState(id, state)
	}
	st, err := l.store()
	if err != nil {
		return err
	}
	return st.SaveState(id, state)
}

func (l *lateStore) Remove(id string) error {
	if disk, ok := l.onJournal(id); ok {
		if err := disk.Remove(id); err != nil {
			return err
		}
		l.mu.Lock()
		delete(l.onDisk, id)
		l.mu.Unlock()
		return nil
	}
	st, err := l.store()
	if err != nil {
		return err
	}
	return st.Remove(id)
}

// Claim confirms a journal message is still this member's, unless it is
// moving into the shared queue (no new delivery attempt starts then).
func (l *lateStore) Claim(id string) error {
	if _, ok := l.onJournal(id); ok {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.switching {
			return queue.ErrLost
		}
		return nil
	}
	st, err := l.store()
	if err != nil {
		return err
	}
	return st.Claim(id)
}

// EndDelivery passes the end of a delivery attempt on to the shared queue
// (queue.DeliveryEnder: the in-flight mark of poison detection); nothing
// while this member queues on its journal.
func (l *lateStore) EndDelivery(id string) {
	if st := l.st.Load(); st != nil {
		st.EndDelivery(id)
	}
}

// beginSwitch stops queueing on the journal: new messages wait for the
// shared queue, no new delivery attempt starts for the journal's messages,
// and it returns them once the enqueues under way are done.
func (l *lateStore) beginSwitch() []string {
	l.mu.Lock()
	l.switching = true
	l.mu.Unlock()
	l.enq.Lock() // the enqueues into the journal under way end
	l.enq.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.onDisk))
	for id := range l.onDisk {
		ids = append(ids, id)
	}
	return ids
}

// endSwitch sends every call to the shared queue st from now on.
func (l *lateStore) endSwitch(st *jsstore.Store) {
	l.st.Store(st)
	l.mu.Lock()
	wasOnJournal := l.disk != nil
	l.disk, l.onDisk, l.switching = nil, nil, false
	l.mu.Unlock()
	close(l.whenOpen())
	if wasOnJournal {
		close(l.switched)
	}
}

// runSharedQueue opens the shared queue, moves the local journal into it,
// hands this member's messages to the manager and then takes over the
// messages of members that died, until ctx ends. A member that has never
// opened the shared queue queues on its journal until three members are
// known (lateStore).
func (s *Service) runSharedQueue(ctx context.Context) {
	log := s.log.With("component", "queue")
	s.late.mu.Lock()
	onJournal := s.late.disk != nil
	s.late.mu.Unlock()
	if onJournal {
		select {
		case <-s.clusterNode.Replicated():
		default:
			log.Warn("WARNING: fewer than three cluster members: this member queues mail on its own disk (its local journal, one copy) and delivers it itself; it moves it into the cluster's replicated queue (JetStream R3) when the third member joins")
			select {
			case <-ctx.Done():
				return
			case <-s.clusterNode.Replicated():
			}
		}
		log.Info("three cluster members: opening the cluster's replicated queue (R3) and moving this member's journal into it")
	}
	st, err := openSharedQueue(ctx, s.clusterNode, s.Config().Server.Name, log)
	for err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Error("the shared queue is not open: mail is refused with 451 until it is", "err", err)
		st, err = openSharedQueue(ctx, s.clusterNode, s.Config().Server.Name, log)
	}
	if err := durable.WriteFile(s.late.marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		log.Warn("could not note that this member opened the shared queue", "file", s.late.marker, "err", err)
	}
	if onJournal {
		s.moveToShared(ctx, st, log)
		if ctx.Err() != nil {
			return
		}
	} else if err := moveJournal(ctx, s.store, st, log); err != nil {
		log.Error("the local queue could not be moved into the shared queue; it stays on this server's disk and is tried again at the next start", "err", err)
	}
	owned, err := st.Load()
	if err != nil {
		log.Error("reading this member's messages in the shared queue", "err", err)
	}
	s.late.endSwitch(st)
	for _, m := range owned {
		s.queue.Adopt(m)
	}
	log.Info("shared queue open", "replicas", s.clusterNode.Replicas(), "messages", len(owned))
	st.Run(ctx, s.queue.Adopt, s.queue.Forget)
}

// moveToShared moves the messages this member queued on its journal into
// the shared queue st while it runs: new messages wait (seconds), the
// manager drops the journal's messages once their deliveries under way
// end, the journal moves (jsstore.Store.Migrate: nothing lost or
// duplicated when cut short, and tried again until it completes) and the
// manager takes them back from the shared queue. A delivery still under
// way after a minute may go a second time (at least once).
func (s *Service) moveToShared(ctx context.Context, st *jsstore.Store, log *slog.Logger) {
	ids := s.late.beginSwitch()
	for _, id := range ids {
		s.queue.Release(id)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	if err := s.queue.WaitDeliveries(wctx); err != nil {
		log.Warn("moving the journal into the shared queue with deliveries under way; they may go a second time", "err", err)
	}
	cancel()
	for {
		n, err := st.Migrate(ctx, s.store)
		if err == nil {
			log.Info("this member's journal moved into the shared queue", "messages", n)
			return
		}
		log.Error("moving this member's journal into the shared queue; trying again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// sharedQueueRefusal is the reply to a message the shared queue could not
// store on a quorum: 451 4.3.0 with the reason, so the client tries again.
func sharedQueueRefusal(err error) error {
	if !errors.Is(err, jsstore.Unavailable) {
		return err
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: jsstore.Unavailable.Message}
}

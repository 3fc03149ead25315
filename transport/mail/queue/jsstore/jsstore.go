// Package jsstore is the queue store of a cluster: the messages live in
// NATS JetStream streams that every member shares, replicated on R
// servers (R3 when the cluster has three or more members), so that a
// server that dies loses nothing (Exchange's shadow redundancy).
//
// # Layout
//
//   - Stream <prefix>_BODY, subjects <p>.b.<id>: the message, in chunks no
//     larger than the server's max payload less room for headers.
//   - Stream <prefix>_QUEUE, subjects <p>.q.<id>, one message per subject:
//     the record of a message — its owner, envelope, delivery state and the
//     sequence numbers of its body chunks. Publishing the record is the
//     commit: Enqueue returns (and the client gets 250) only after
//     JetStream acknowledged the body chunks and then the record; a PubAck
//     from a replicated stream means a quorum of its replicas stored it.
//     A record is created with Nats-Expected-Last-Subject-Sequence 0, so a
//     queue id is stored once (DSN ids are derived from the message's, see
//     queue.SharedStore), and rewritten with the sequence this server last
//     wrote: a compare-and-set, so two servers never both think they own it.
//   - Key-value bucket <prefix>_MEMBERS: one key per live member, rewritten
//     every LeaseTTL/3 and expiring after LeaseTTL (the member's lease).
//
// # Who delivers: ownership leases, not a work queue
//
// The queue manager keeps each message's delivery state in memory (retry
// schedule, delay notification, expiry, per-next-hop queues with their
// concurrency limits and connection retry). Rather than fork that logic
// for work-queue consumers, every message has an owner, the member that
// accepted it, whose manager delivers it exactly as a single server does,
// and records every change of state here. When a member's lease expires
// (it died, or it is cut off from the quorum), the others take its
// messages over: each claims its share by a compare-and-set of the owner
// and its manager continues from the saved state (queue.Manager.Adopt).
// The ack deadline is thus LeaseTTL plus one poll. A member that lost a
// message notices it before its next delivery attempt (Owns) or at its next
// save, and drops it (queue.Manager.Forget). A member whose own lease could
// not be renewed delivers nothing until it can.
//
// Delivery is at least once: a message whose delivery was under way when
// its owner died is delivered again by the member that takes it over.
//
// What is per member: the concurrency limits (MaxConcurrencyPerQueue,
// MaxConcurrentDeliveries) apply on each member to the messages it owns,
// so a next hop sees at most members x MaxConcurrencyPerQueue connections;
// the retry schedule, expiry, delay notification, the per-recipient state
// and the crash count of poison detection travel with the message.
//
// # Poison detection across members
//
// Claim, before each delivery attempt, rewrites the record with the
// member's name in Delivering (the compare-and-set that confirms the
// claim is this write, so it costs no extra round trip); the save after
// the attempt clears it (SaveState once EndDelivery was called), Remove
// drops it with the record. A member that loads (after its restart) or
// takes over a record whose mark is still set knows its holder stopped
// mid-attempt, and the queue manager counts a crash in the message's
// state (message.Stored.Interrupted): a message that crashes one member
// after another reaches queue.PoisonThreshold on the members combined.
// A member cut off from the cluster mid-attempt counts as one crash too.
package jsstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// Options configure a Store.
type Options struct {
	// JS is the JetStream context of the member's connection.
	JS jetstream.JetStream
	// Server names this member (Server.Name): the owner of what it accepts.
	Server string
	// Replicas is the streams' replica count: 3 with three or more
	// members (see Replicas), 1 otherwise.
	Replicas int
	// Prefix names the streams and subjects; "TQ" when empty.
	Prefix string
	// PublishTimeout bounds waiting for JetStream to acknowledge a
	// message; past it the message is refused with 451. 10s when zero.
	PublishTimeout time.Duration
	// LeaseTTL is how long a member that stopped renewing its lease keeps
	// its messages; 30s when zero.
	LeaseTTL time.Duration
	// ChunkSize caps a body chunk; the connection's max payload less 8 KiB
	// when zero.
	ChunkSize int
	Logger    *slog.Logger
}

// Streams names the streams of the store with this prefix ("" = "TQ"),
// for whoever keeps their replica count up as members join.
func Streams(prefix string) []string {
	if prefix == "" {
		prefix = "TQ"
	}
	return []string{prefix + "_BODY", prefix + "_QUEUE", "KV_" + prefix + "_MEMBERS"}
}

// Replicas returns the replica count for a cluster of members servers and,
// when the messages are not replicated, the warning to show.
func Replicas(members int) (int, string) {
	if members >= 3 {
		return 3, ""
	}
	return 1, fmt.Sprintf("WARNING: the cluster has %d member(s): queued messages are kept on ONE server (JetStream R1) and are lost with its disk; shadow redundancy needs three members (R3)", members)
}

// record is what the queue stream keeps about a message.
type record struct {
	Owner string           `json:"owner"`
	Env   message.Envelope `json:"env"`
	State *message.State   `json:"state,omitempty"`
	Body  []uint64         `json:"body"`
	// Servers are the members that held the message, first to last.
	Servers []string `json:"servers,omitempty"`

	// Delivering is the member that had a delivery attempt under way, set
	// by Claim and cleared by the save after the attempt (package doc,
	// "Poison detection across members").
	Delivering string `json:"delivering,omitempty"`

	// Importing marks a message being moved from a member's local journal
	// (migrate.go): nobody delivers or takes it over until the journal
	// copy is gone and the mark is cleared.
	Importing bool `json:"importing,omitempty"`
}

// held is a message this member owns.
type held struct {
	mu  sync.Mutex
	rec record
	rev uint64 // stream sequence of the record this member last wrote
	// delivering counts the attempts under way here (Claim to EndDelivery).
	delivering int
}

// Store is a queue.SharedStore on JetStream.
type Store struct {
	o       Options
	log     *slog.Logger
	js      jetstream.JetStream
	body    jetstream.Stream
	queue   jetstream.Stream
	members jetstream.KeyValue
	chunk   int

	mu   sync.Mutex
	held map[string]*held
	// unremoved are finished messages whose removal failed; Run tries again.
	unremoved map[string]bool

	lastBeat atomic.Int64 // unix nanoseconds of the last renewed lease
	idSeq    atomic.Uint32

	adopt  func(message.Stored)
	lost   func(id string)
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// failAt, set by tests, fails a migration at one of its steps.
	failAt func(step, id string) error
	// live is the number of members with a lease at the last poll
	// (LiveMembers).
	live atomic.Int32
	// leaving is set by Leave (leave.go).
	leaving atomic.Bool
}

// requestTimeout bounds one JetStream API request of Open (Open's caller
// tries again until its own deadline).
const requestTimeout = 5 * time.Second

// Unavailable is Enqueue's error when JetStream did not acknowledge the
// message: the client is told 451 4.3.0 and tries again later.
var Unavailable = &delivery.Error{Code: 451, Enhanced: [3]int{4, 3, 0},
	Message: "Temporary server error: this server cannot reach a quorum of the cluster to store the message; try again later"}

// Open creates or updates the streams and renews this member's lease once.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Prefix == "" {
		o.Prefix = "TQ"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Server == "" || strings.ContainsAny(o.Server, ".*> \t") {
		return nil, fmt.Errorf("jsstore: invalid server name %q", o.Server)
	}
	s := &Store{o: o, log: o.Logger, js: o.JS, held: map[string]*held{}, unremoved: map[string]bool{}}
	s.chunk = o.ChunkSize
	if s.chunk <= 0 {
		s.chunk = int(o.JS.Conn().MaxPayload()) - 8<<10
	}
	// A member that does not yet see the others asks for R1; a stream
	// already at R3 stays there.
	for _, name := range Streams(o.Prefix) {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		if st, err := o.JS.Stream(rctx, name); err == nil && st.CachedInfo().Config.Replicas > o.Replicas {
			o.Replicas = st.CachedInfo().Config.Replicas
		}
		cancel()
	}
	s.o.Replicas = o.Replicas
	// Each request has its own deadline: a server that has just (re)started
	// can drop a JetStream API request it received before it knew the meta
	// leader, and waiting for that answer would use up all of ctx. A stream
	// that already has the configuration is used as it is: members open the
	// store together when the third joins, and an update of a stream whose
	// new replicas are still electing a leader can take longer than that.
	var err error
	s.body, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name: o.Prefix + "_BODY", Subjects: []string{o.Prefix + ".b.*"},
		Storage: jetstream.FileStorage, Replicas: o.Replicas, Duplicates: 2 * time.Minute,
		Description: "transportd queue: message bodies",
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: creating stream %s_BODY: %w", o.Prefix, err)
	}
	s.queue, err = s.ensureStream(ctx, jetstream.StreamConfig{
		Name: o.Prefix + "_QUEUE", Subjects: []string{o.Prefix + ".q.*"},
		Storage: jetstream.FileStorage, Replicas: o.Replicas, MaxMsgsPerSubject: 1,
		Description: "transportd queue: envelope, owner and delivery state of each message",
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: creating stream %s_QUEUE: %w", o.Prefix, err)
	}
	kvc := jetstream.KeyValueConfig{
		Bucket: o.Prefix + "_MEMBERS", TTL: o.LeaseTTL, Replicas: o.Replicas, Storage: jetstream.FileStorage,
		Description: "transportd queue: members' delivery leases",
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if st, err := o.JS.Stream(rctx, "KV_"+kvc.Bucket); err == nil {
		if have := st.CachedInfo().Config; have.MaxAge == kvc.TTL && have.Replicas >= kvc.Replicas && have.Description == kvc.Description {
			s.members, err = o.JS.KeyValue(rctx, kvc.Bucket)
		}
	}
	if s.members == nil {
		s.members, err = o.JS.CreateOrUpdateKeyValue(rctx, kvc)
	}
	if err != nil {
		return nil, fmt.Errorf("jsstore: creating bucket %s_MEMBERS: %w", o.Prefix, err)
	}
	if err := s.beat(ctx); err != nil {
		return nil, fmt.Errorf("jsstore: renewing the lease of %s: %w", o.Server, err)
	}
	if err := s.waitCurrent(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureStream returns the stream of cfg: as it is when it already has
// cfg's settings (at least its replicas), else created or updated, each
// request within requestTimeout.
func (s *Store) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if st, err := s.js.Stream(rctx, cfg.Name); err == nil {
		have := st.CachedInfo().Config
		if have.Replicas >= cfg.Replicas && slices.Equal(have.Subjects, cfg.Subjects) && have.Storage == cfg.Storage &&
			(cfg.Duplicates == 0 || have.Duplicates == cfg.Duplicates) && have.MaxMsgsPerSubject == cfg.MaxMsgsPerSubject &&
			have.Description == cfg.Description {
			return st, nil
		}
		cfg.Replicas = max(cfg.Replicas, have.Replicas)
	}
	return s.js.CreateOrUpdateStream(rctx, cfg)
}

// waitCurrent waits until the queue streams have a leader and every
// replica has caught up: a member that rejoins reads the queue only then
// (a consumer may be placed on any replica, a lagging one too).
func (s *Store) waitCurrent(ctx context.Context) error {
	for {
		current := true
		for _, st := range []jetstream.Stream{s.body, s.queue} {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			info, err := st.Info(rctx)
			cancel()
			if err != nil {
				return fmt.Errorf("jsstore: reading the state of the queue streams: %w", err)
			}
			if ci := info.Cluster; ci != nil {
				if ci.Leader == "" {
					current = false
				}
				for _, r := range ci.Replicas {
					if !r.Offline && (!r.Current || r.Lag > 0) {
						current = false
					}
				}
			}
		}
		if current {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jsstore: the queue streams' replicas did not catch up: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond): // JetStream has no catch-up signal for clients
		}
	}
}

func (s *Store) beat(ctx context.Context) error {
	if s.leaving.Load() {
		return nil // Leave deleted the lease
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
	defer cancel()
	if _, err := s.members.Put(ctx, s.o.Server, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return err
	}
	s.lastBeat.Store(time.Now().UnixNano())
	return nil
}

// leaseValid reports whether this member's lease is surely still live:
// renewed within the last half LeaseTTL.
func (s *Store) leaseValid() bool {
	return time.Since(time.Unix(0, s.lastBeat.Load())) < s.o.LeaseTTL/2
}

// NewID returns a queue id: time-ordered, unique across members (random
// suffix), 25 upper-case hex digits as the journal's.
func (s *Store) NewID() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%013X%04X%s", time.Now().UnixMilli(), s.idSeq.Add(1)&0xFFFF, strings.ToUpper(hex.EncodeToString(b[:])))
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Store) bodySubject(id string) string  { return s.o.Prefix + ".b." + id }
func (s *Store) queueSubject(id string) string { return s.o.Prefix + ".q." + id }

// unavailable turns a JetStream failure into the 451 the client sees, and
// logs the cause.
func (s *Store) unavailable(id, step string, err error) error {
	s.log.Error("JetStream did not store the message; refused with 451", "queue_id", id, "step", step, "err", err)
	return fmt.Errorf("%w (%s: %v)", Unavailable, step, err)
}

// Enqueue stores a message: its body chunks, then its record, each
// acknowledged by JetStream (a quorum of the replicas) before it returns.
func (s *Store) Enqueue(ctx context.Context, env message.Envelope, body io.Reader) (string, error) {
	if env.ID == "" {
		env.ID = s.NewID()
	} else if !validID(env.ID) {
		return "", fmt.Errorf("enqueueing message: invalid queue id %q", env.ID)
	}
	id := env.ID
	// No lease check here: the PubAck of the record is the proof that a
	// quorum stored the message, and a member that cannot reach one gets
	// no PubAck within PublishTimeout.
	ctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
	defer cancel()
	var futures []jetstream.PubAckFuture
	var size int64
	buf := make([]byte, s.chunk)
	for n := 0; ; n++ {
		k, err := io.ReadFull(body, buf)
		if k > 0 || n == 0 {
			size += int64(k)
			if env.MaxMessageLen > 0 && size > env.MaxMessageLen {
				return "", message.ErrTooLarge
			}
			msg := &nats.Msg{Subject: s.bodySubject(id), Data: bytes.Clone(buf[:k]), Header: nats.Header{}}
			f, perr := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(fmt.Sprintf("%s.%d", id, n)))
			if perr != nil {
				return "", s.unavailable(id, "body", perr)
			}
			futures = append(futures, f)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("receiving message: %w", err)
		}
	}
	seqs := make([]uint64, len(futures))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			seqs[i] = ack.Sequence
		case err := <-f.Err():
			return "", s.unavailable(id, "body", err)
		case <-ctx.Done():
			return "", s.unavailable(id, "body", ctx.Err())
		}
	}
	env.Size = size
	h := &held{rec: record{Owner: s.o.Server, Env: env, Body: seqs, Servers: []string{s.o.Server}}}
	data, err := json.Marshal(h.rec)
	if err != nil {
		return "", fmt.Errorf("enqueueing message: %w", err)
	}
	ack, err := s.js.Publish(ctx, s.queueSubject(id), data, jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil {
		if isWrongLast(err) {
			return "", fmt.Errorf("enqueueing message %s: %w", id, message.ErrDuplicate)
		}
		return "", s.unavailable(id, "record", err)
	}
	h.rev = ack.Sequence
	s.mu.Lock()
	s.held[id] = h
	s.mu.Unlock()
	return id, nil
}

// isWrongLast reports a compare-and-set conflict: the record was rewritten
// since it was read. A replicated (R3) stream answers it with
// JSErrCodeStreamWrongLastSequenceConstant, an R1 stream with
// JSErrCodeStreamWrongLastSequence: both mean the same.
func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// records reads the last record of every message.
func (s *Store) records(ctx context.Context) ([]jetstream.Msg, error) {
	info, err := s.queue.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	c, err := s.queue.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.o.Prefix + ".q.*"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			out = append(out, m)
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if done || n == 0 {
			return out, nil
		}
	}
}

// Load returns the messages this member owns (recovery after a restart).
func (s *Store) Load() ([]message.Stored, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	msgs, err := s.records(ctx)
	if err != nil {
		return nil, fmt.Errorf("jsstore: reading the queue: %w", err)
	}
	var out []message.Stored
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		var rec record
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			s.log.Error("unreadable queue record skipped", "subject", m.Subject(), "err", err)
			continue
		}
		if rec.Owner != s.o.Server || rec.Importing {
			continue
		}
		// The consumer may have read a lagging replica: the leader has the
		// last word.
		last, err := s.queue.GetLastMsgForSubject(ctx, m.Subject())
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jsstore: reading the record of %s: %w", rec.Env.ID, err)
		}
		if err := json.Unmarshal(last.Data, &rec); err != nil || rec.Owner != s.o.Server || rec.Importing {
			continue
		}
		s.held[rec.Env.ID] = &held{rec: rec, rev: last.Sequence}
		out = append(out, message.Stored{Envelope: rec.Env, State: rec.State, Interrupted: rec.Delivering != ""})
	}
	return out, nil
}

func (s *Store) get(id string) (*held, error) {
	s.mu.Lock()
	h := s.held[id]
	s.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("%w: %s", message.ErrNoSuchMessage, id)
	}
	return h, nil
}

// Open reads a message's body from JetStream.
func (s *Store) Open(id string) (io.ReadCloser, error) {
	h, err := s.get(id)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	seqs := slices.Clone(h.rec.Body)
	h.mu.Unlock()
	return &bodyReader{s: s, seqs: seqs}, nil
}

type bodyReader struct {
	s    *Store
	seqs []uint64
	cur  []byte
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if len(r.seqs) == 0 {
			return 0, io.EOF
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.s.o.PublishTimeout)
		m, err := r.s.body.GetMsg(ctx, r.seqs[0])
		cancel()
		if err != nil {
			return 0, fmt.Errorf("jsstore: reading body chunk %d: %w", r.seqs[0], err)
		}
		r.cur, r.seqs = m.Data, r.seqs[1:]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *bodyReader) Close() error { return nil }

// ErrLost is returned when another member took the message over.
var ErrLost = message.ErrLost

// write publishes h's record with compare-and-set; call with h.mu held.
func (s *Store) write(ctx context.Context, id string, h *held) error {
	data, err := json.Marshal(h.rec)
	if err != nil {
		return err
	}
	ack, err := s.js.Publish(ctx, s.queueSubject(id), data, jetstream.WithExpectLastSequencePerSubject(h.rev))
	if err != nil {
		if isWrongLast(err) {
			return ErrLost
		}
		return err
	}
	h.rev = ack.Sequence
	return nil
}

// SaveState records delivery progress in JetStream.
func (s *Store) SaveState(id string, st *message.State) error {
	h, err := s.get(id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.PublishTimeout)
	defer cancel()
	h.mu.Lock()
	c := *st
	c.Recipients = slices.Clone(st.Recipients)
	h.rec.State = &c
	if h.delivering == 0 {
		h.rec.Delivering = "" // the attempt it marked was counted or ended
	}
	err = s.write(ctx, id, h)
	h.mu.Unlock()
	if errors.Is(err, ErrLost) {
		s.drop(id)
	}
	if err != nil {
		return fmt.Errorf("jsstore: saving the state of %s: %w", id, err)
	}
	return nil
}

// drop forgets a message another member took over and tells the manager.
func (s *Store) drop(id string) {
	s.mu.Lock()
	delete(s.held, id)
	lost := s.lost
	s.mu.Unlock()
	if lost != nil {
		lost(id)
	}
}

// Remove deletes a finished message: its record, then its body. When
// JetStream does not answer, Run tries again later (a record left behind
// would be delivered again by whoever takes it over).
func (s *Store) Remove(id string) error {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
	if err := s.remove(context.Background(), id); err != nil {
		s.mu.Lock()
		s.unremoved[id] = true
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *Store) remove(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
	defer cancel()
	if err := s.queue.Purge(ctx, jetstream.WithPurgeSubject(s.queueSubject(id))); err != nil {
		return fmt.Errorf("jsstore: removing %s: %w", id, err)
	}
	if err := s.body.Purge(ctx, jetstream.WithPurgeSubject(s.bodySubject(id))); err != nil {
		return fmt.Errorf("jsstore: removing the body of %s: %w", id, err)
	}
	return nil
}

// retryRemovals removes the finished messages whose removal failed.
func (s *Store) retryRemovals(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.unremoved))
	for id := range s.unremoved {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := s.remove(ctx, id); err != nil {
			return
		}
		s.mu.Lock()
		delete(s.unremoved, id)
		s.mu.Unlock()
	}
}

// Claim confirms that this member still holds the message before a
// delivery attempt: its lease is live and the record is still the one it
// last wrote (message.ErrLost when another member rewrote it or removed
// it). The confirmation is a compare-and-set write of the record marked
// in flight (Delivering), acknowledged by a quorum: if this member stops
// before the save that follows the attempt, whoever loads or takes the
// message over counts a crash.
func (s *Store) Claim(id string) error {
	if s.leaving.Load() {
		return message.ErrLost // being handed over (Leave)
	}
	if !s.leaseValid() {
		return errors.New("this member could not renew its lease")
	}
	h, err := s.get(id)
	if err != nil {
		return message.ErrLost
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.PublishTimeout)
	defer cancel()
	h.mu.Lock()
	prev := h.rec.Delivering
	h.rec.Delivering = s.o.Server
	err = s.write(ctx, id, h)
	if err == nil {
		h.delivering++
	} else {
		h.rec.Delivering = prev
	}
	h.mu.Unlock()
	if errors.Is(err, ErrLost) {
		s.mu.Lock()
		delete(s.held, id)
		s.mu.Unlock()
		return message.ErrLost
	}
	if err != nil {
		return fmt.Errorf("marking %s in flight in the shared queue: %w", id, err)
	}
	return nil
}

// EndDelivery notes that the attempt Claim marked ended; the next
// SaveState clears the mark (queue.DeliveryEnder).
func (s *Store) EndDelivery(id string) {
	s.mu.Lock()
	h := s.held[id]
	s.mu.Unlock()
	if h == nil {
		return
	}
	h.mu.Lock()
	if h.delivering > 0 {
		h.delivering--
	}
	h.mu.Unlock()
}

// Run renews this member's lease and takes over the messages of members
// whose lease expired, handing them to adopt; lost is told of messages
// another member took from this one. It returns when ctx ends.
func (s *Store) Run(ctx context.Context, adopt func(message.Stored), lost func(id string)) {
	s.mu.Lock()
	s.adopt, s.lost = adopt, lost
	s.mu.Unlock()
	tick := time.NewTicker(s.o.LeaseTTL / 4)
	defer tick.Stop()
	scanEvery := 8 // polls between full scans when nobody left
	polls := 0
	var known []string
	pendingRescan := 0
	for {
		if err := s.beat(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot renew this member's queue lease; it delivers nothing until it can", "err", err)
		}
		s.retryRemovals(ctx)
		live, err := s.liveMembers(ctx)
		if err == nil {
			s.live.Store(int32(len(live)))
		}
		if err == nil && s.leaseValid() {
			gone := false
			for _, k := range known {
				if !slices.Contains(live, k) {
					gone = true
				}
			}
			known = live
			polls++
			switch {
			case gone || polls%scanEvery == 1:
				// The first pass claims this member's share; the rest
				// goes to whoever is first at the next pass.
				if s.takeOver(ctx, live, true) {
					pendingRescan = 2
				}
			case pendingRescan > 0:
				if pendingRescan--; pendingRescan == 0 {
					s.takeOver(ctx, live, false)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// LiveMembers is how many members held a lease at the last poll (at
// least 1): the queue manager divides MaxConcurrencyPerQueue among them,
// so the limit applies to the cluster (queue.MemberCounter).
func (s *Store) LiveMembers() int { return max(int(s.live.Load()), 1) }

func (s *Store) liveMembers(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
	defer cancel()
	keys, err := s.members.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	slices.Sort(keys)
	return keys, err
}

// takeOver claims the messages whose owner is not live; with share, only
// those that hash to this member. It reports whether some were left.
func (s *Store) takeOver(ctx context.Context, live []string, share bool) bool {
	if s.leaving.Load() {
		return false
	}
	me := slices.Index(live, s.o.Server)
	if me < 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 8*s.o.PublishTimeout)
	defer cancel()
	msgs, err := s.records(ctx)
	if err != nil {
		s.log.Warn("cannot read the shared queue to take over messages", "err", err)
		return false
	}
	left := false
	taken := 0
	for _, m := range msgs {
		var rec record
		if err := json.Unmarshal(m.Data(), &rec); err != nil || slices.Contains(live, rec.Owner) || rec.Importing {
			continue
		}
		if share {
			f := fnv.New32a()
			f.Write([]byte(rec.Env.ID))
			if int(f.Sum32()%uint32(len(live))) != me {
				left = true
				continue
			}
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		prev := rec.Owner
		rec.Owner = s.o.Server
		rec.Servers = append(rec.Servers, s.o.Server)
		h := &held{rec: rec, rev: md.Sequence.Stream}
		h.mu.Lock()
		err = s.write(ctx, rec.Env.ID, h)
		h.mu.Unlock()
		if err != nil {
			if !errors.Is(err, ErrLost) {
				s.log.Warn("cannot take a message over", "queue_id", rec.Env.ID, "err", err)
			}
			continue
		}
		s.mu.Lock()
		s.held[rec.Env.ID] = h
		adopt := s.adopt
		s.mu.Unlock()
		taken++
		s.log.Info("message taken over from a member whose lease expired", "queue_id", rec.Env.ID, "from", prev)
		if adopt != nil {
			// A mark left set: its previous holder stopped mid-attempt.
			adopt(message.Stored{Envelope: rec.Env, State: rec.State, Interrupted: rec.Delivering != ""})
		}
	}
	if taken > 0 {
		s.log.Warn("messages of departed members taken over", "messages", taken, "live", live)
	}
	return left
}

// Message is a message of the shared queue as any member sees it.
type Message struct {
	Envelope message.Envelope
	State    *message.State
	// Owner is the member that delivers it; Servers every member that held it.
	Owner   string
	Servers []string
}

// Messages lists every message of the shared queue, whoever holds it.
func (s *Store) Messages(ctx context.Context) ([]Message, error) {
	msgs, err := s.records(ctx)
	if err != nil {
		return nil, fmt.Errorf("jsstore: reading the queue: %w", err)
	}
	var out []Message
	for _, m := range msgs {
		var rec record
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			continue
		}
		out = append(out, Message{Envelope: rec.Env, State: rec.State, Owner: rec.Owner, Servers: rec.Servers})
	}
	return out, nil
}

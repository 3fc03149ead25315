package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/durable"
)

// The organization's configuration in JetStream: one key of one KV
// bucket, so that a change is one value, applied on every member all or
// nothing, and concurrent changes are told apart by the KV revision
// (compare-and-set).
const (
	// ConfigBucket is the KV bucket of the organization's configuration.
	ConfigBucket = "transportd_config"
	// orgKey is the key of the organization-wide document.
	orgKey = "org"
)

// orgValue is what the bucket holds, sealed with the cluster key.
type orgValue struct {
	Origin string        `json:"origin"`
	Doc    config.OrgDoc `json:"doc"`
}

// ConfigSync keeps this member's organization-wide configuration and the
// cluster's one: a change applied here is published; a change published
// by another member is written to this member's files (validated as a
// whole, all or nothing), which the daemon then reloads as any edit.
//
// Two members changing the configuration at the same moment (issue 14):
// the bucket takes one change (compare-and-set on the revision); the
// other member merges its change on top of the winner's, object by object
// (config.MergeOrgDocs), and publishes the result when the two touched
// different objects; when both changed the same object the winner's stays,
// this member's files converge to it, and the command that made the losing
// change is told (Outcome, WaitOutcome) to run it again.
type ConfigSync struct {
	node *Node
	path string
	log  *slog.Logger

	local chan *config.Config

	mu sync.Mutex
	// synced is the hash of this member's document when it last agreed
	// with the bucket; rev the bucket revision it was read or written at.
	synced string
	rev    uint64
	// bucket is the hash of the document at rev, bucketDoc the document.
	bucket    string
	bucketDoc *config.OrgDoc
	// base is the bucket's document this member's files were last made
	// from (applied or published): what a local change is a change of.
	base *config.OrgDoc
	// failed is the revision this member could not apply: until one
	// applies, its own changes are not published over the cluster's.
	failed uint64
	// adopting is set while a document from the bucket is being written
	// to the files: the reload it causes is adopted, not published.
	adopting string
	// outcomes are the last local changes' fates, for WaitOutcome.
	outcomes []Outcome
	// kv is the configuration bucket once open.
	kv jetstream.KeyValue
	// startDoc is this member's document when its daemon started, while
	// it has never agreed with the cluster (a member that just joined):
	// what its changes made before the cluster's configuration arrives
	// are changes of (adopt).
	startDoc *config.OrgDoc
}

// RotateJoin revokes every join token issued so far, on every member: it
// starts a new join epoch in the configuration bucket and returns it.
func (cs *ConfigSync) RotateJoin(ctx context.Context) (uint64, error) {
	cs.mu.Lock()
	kv := cs.kv
	cs.mu.Unlock()
	if kv == nil {
		return 0, errors.New("the cluster's configuration bucket is not open yet (JetStream is starting): try again in a few seconds")
	}
	return cs.node.rotateJoin(ctx, kv)
}

// NewConfigSync prepares the synchronisation of the configuration file at
// path; Run does it.
func (n *Node) NewConfigSync(path string) *ConfigSync {
	return &ConfigSync{node: n, path: path, log: n.log.With("sync", "config"), local: make(chan *config.Config, 1)}
}

// Applied tells the sync that cfg was put in force on this member (at
// start and after every successful reload).
func (cs *ConfigSync) Applied(cfg *config.Config) {
	for {
		select {
		case cs.local <- cfg:
			return
		default:
			select { // replace a pending older one
			case <-cs.local:
			default:
			}
		}
	}
}

func (cs *ConfigSync) aad() []byte {
	return []byte(cs.node.ClusterName() + "/" + ConfigBucket + "/" + orgKey)
}

// Run synchronises until ctx is done.
func (cs *ConfigSync) Run(ctx context.Context) {
	if err := cs.node.WaitReady(ctx); err != nil {
		return
	}
	kv, ok := cs.node.openBucket(ctx, jetstream.KeyValueConfig{Bucket: ConfigBucket, History: 10,
		Replicas: cs.node.Replicas(), Description: "transportd organization configuration (sealed with the cluster key)"},
		"configuration bucket not available yet")
	if !ok {
		return
	}
	cs.node.KeepReplicated("KV_" + ConfigBucket)
	cs.mu.Lock()
	cs.kv = kv
	cs.recordLocked(Outcome{Result: "Started"}) // the commands wait for outcomes from now on
	cs.mu.Unlock()
	cs.loadBase(ctx, kv)
	// One watcher for the organization and the join epoch (jointoken.go).
	w, err := kv.WatchFiltered(ctx, []string{orgKey, joinKey})
	if err != nil {
		cs.log.Error("watching the cluster's configuration", "err", err)
		return
	}
	defer func() {
		// At shutdown the connection's close ends the watcher: Stop
		// would ask JetStream to delete its consumer, which waits 5 s
		// for an answer when the other members are gone.
		if ctx.Err() == nil {
			w.Stop()
		}
	}()
	var current *config.Config
	initial := true
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the bucket's current value has been seen
				cs.node.joinEpochSeen(nil)
				if initial {
					initial = false
					cs.mu.Lock()
					adopting := cs.adopting != ""
					cs.mu.Unlock()
					if current != nil && !adopting {
						// A new cluster (the first member's configuration
						// is the first), or changes made here while the
						// daemon was down.
						cs.publish(ctx, kv, current)
					}
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if e.Key() == joinKey {
				cs.node.joinEpochSeen(e)
				continue
			}
			cs.remote(e)
		case cfg := <-cs.local:
			if current == nil {
				cs.noteStart(cfg)
			}
			current = cfg
			if !initial {
				cs.publish(ctx, kv, cfg)
			}
		}
	}
}

// noteStart keeps the first configuration the daemon applied as the
// start document of a member that has never agreed with the cluster.
func (cs *ConfigSync) noteStart(cfg *config.Config) {
	doc, err := cfg.OrgDoc()
	if err != nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.base == nil && cs.startDoc == nil {
		cs.startDoc = &doc
	}
}

// loadBase reads, at start, the bucket's document this member last agreed
// with (its revision is in the sync state; the bucket keeps ten), so that
// changes made here while the daemon was down are merged with the ones
// made elsewhere meanwhile rather than lost.
func (cs *ConfigSync) loadBase(ctx context.Context, kv jetstream.KeyValue) {
	st := cs.loadState()
	if st.Rev == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	e, err := kv.GetRevision(cctx, orgKey, st.Rev)
	if err != nil {
		cs.log.Info("the configuration this member last agreed with is no longer in the bucket; the cluster's replaces this member's (its own certificates stay)", "revision", st.Rev, "err", err)
		return
	}
	v, err := cs.open(e)
	if err != nil {
		return
	}
	cs.mu.Lock()
	cs.base, cs.synced = &v.Doc, st.Local
	cs.mu.Unlock()
}

// open unseals and decodes a bucket entry.
func (cs *ConfigSync) open(e jetstream.KeyValueEntry) (orgValue, error) {
	var v orgValue
	plain, err := Open(cs.node.Key(), e.Value(), cs.aad())
	if err != nil {
		cs.log.Error("the cluster's configuration cannot be opened with this member's cluster key; not applied", "revision", e.Revision(), "err", err)
		return v, err
	}
	if err := json.Unmarshal(plain, &v); err != nil {
		cs.log.Error("the cluster's configuration is damaged; not applied", "revision", e.Revision(), "err", err)
		return v, err
	}
	return v, nil
}

// remote applies a document another member (or this one) published:
// merged with this member's changes not yet in the bucket (a change made
// while the daemon was down, or one made a moment before the other
// member's arrived).
func (cs *ConfigSync) remote(e jetstream.KeyValueEntry) {
	v, err := cs.open(e)
	if err != nil {
		return
	}
	hash := v.Doc.Hash()
	cs.mu.Lock()
	if e.Revision() <= cs.rev {
		cs.mu.Unlock()
		return
	}
	cs.rev = e.Revision()
	cs.bucket, cs.bucketDoc = hash, &v.Doc
	if hash == cs.synced {
		cs.base = &v.Doc
		cs.mu.Unlock()
		return // nothing new for this member
	}
	cs.mu.Unlock()
	cs.adopt(v, e.Revision())
}

// adopt writes the bucket's document v (at rev) to this member's files,
// merged with this member's own changes since base; a change of the same
// object on both sides keeps v's and is reported as lost (Outcome).
func (cs *ConfigSync) adopt(v orgValue, rev uint64) (merged config.OrgDoc, err error) {
	hash := v.Doc.Hash()
	cs.mu.Lock()
	base, synced := cs.base, cs.synced
	if base == nil && cs.startDoc != nil {
		// A member that never agreed with the cluster: its objects as
		// they were at start give way to the cluster's, the changes made
		// here since are merged on top; its files (its own certificate)
		// all count as its own.
		b := *cs.startDoc
		b.Files = map[string][]byte{}
		base = &b
	}
	cs.mu.Unlock()
	var changed bool
	var mine string
	var conflicts []string
	_, err = config.Update(cs.path, func(c *config.Config) error {
		doc, err := c.OrgDoc()
		if err != nil {
			return err
		}
		mine = doc.Hash()
		merged = v.Doc
		if mine == hash {
			return errUnchanged
		}
		// Always merged: besides a change not yet published, the files
		// only this member has (its own certificate) must stay.
		merged, conflicts = config.MergeOrgDocs(base, doc, v.Doc)
		if merged.Hash() == mine {
			return errUnchanged
		}
		changed = true
		return c.ApplyOrgDoc(merged)
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err != nil {
		cs.failed = rev
		cs.log.Error("a configuration change from the cluster is not applied on this member; its configuration stays as it was (fix the cause, then make any change to the cluster's configuration)",
			"from", v.Origin, "revision", rev, "err", err)
		return merged, err
	}
	cs.failed = 0
	cs.base = &v.Doc
	if mine != synced && mine != hash {
		if len(conflicts) > 0 {
			cs.recordLocked(Outcome{Local: mine, Result: OutcomeLost, Revision: rev, Origin: v.Origin, Objects: conflicts})
			cs.log.Warn("this member's configuration change lost against one made on another member at the same time; the cluster's stays (run the command again)",
				"from", v.Origin, "revision", rev, "objects", fmt.Sprint(conflicts))
		} else if merged.Hash() != hash {
			cs.recordLocked(Outcome{Local: mine, Result: OutcomeMerged, Revision: rev, Origin: v.Origin})
		}
	}
	if merged.Hash() == hash {
		// Nothing of this member's own is left to publish.
		cs.synced = hash
		cs.saveStateLocked()
		if changed {
			cs.adopting = hash
		}
	}
	if changed {
		cs.log.Info("configuration change from the cluster written; applying it", "from", v.Origin, "revision", rev)
	}
	return merged, nil
}

var errUnchanged = errors.New("unchanged")

// publish puts this member's organization-wide configuration in the
// bucket when it differs from what the bucket has, with compare-and-set
// on the revision last seen. When another member's change got in first,
// this member's change is merged on top of it and published again, or,
// when both changed the same object, dropped (adopt).
func (cs *ConfigSync) publish(ctx context.Context, kv jetstream.KeyValue, cfg *config.Config) {
	doc, err := cfg.OrgDoc()
	if err != nil {
		cs.log.Error("reading the organization's configuration", "err", err)
		return
	}
	hash := doc.Hash()
	if fresh, err := config.Read(cs.path); err == nil {
		if fd, err := fresh.OrgDoc(); err == nil && fd.Hash() != hash {
			// The files changed since cfg was applied (a change from
			// the cluster was written to them): their reload comes next.
			return
		}
	}
	cs.mu.Lock()
	if adopting := cs.adopting; adopting != "" {
		cs.adopting = ""
		if hash == adopting {
			// The reload of a document from the cluster: nothing to
			// publish back.
			cs.synced = hash
			cs.saveStateLocked()
			cs.mu.Unlock()
			return
		}
		// A change made here after the cluster's was written: publish.
	}
	if hash == cs.synced {
		cs.mu.Unlock()
		return
	}
	if hash == cs.bucket {
		cs.synced, cs.base = hash, cs.bucketDoc
		cs.saveStateLocked()
		cs.recordLocked(Outcome{Local: hash, Result: OutcomePublished, Revision: cs.rev})
		cs.mu.Unlock()
		return
	}
	rev, failed := cs.rev, cs.failed
	cs.mu.Unlock()
	if rev == 0 && !cs.node.mayCreateConfig() {
		cs.log.Info("waiting for the cluster's configuration from its first member; this member's change is published once it has it")
		cs.pending(hash, "this member has not received the cluster's configuration from its first member yet; the change is merged into it and published then")
		return
	}
	if failed != 0 {
		cs.log.Error("this member's configuration change is not published: it has not applied the cluster's configuration (revision in the log above); fix that first, or its change would undo the cluster's",
			"revision", failed)
		cs.pending(hash, fmt.Sprintf("this member could not apply the cluster's configuration (revision %d; transportd's log says why): fix that first, then make the change again", failed))
		return
	}
	local := hash
	for attempt := 0; ; attempt++ {
		newRev, err := cs.put(ctx, kv, doc, rev)
		if err == nil {
			cs.mu.Lock()
			if newRev > cs.rev {
				cs.rev = newRev
			}
			cs.synced, cs.bucket, cs.bucketDoc, cs.base = hash, hash, &doc, &doc
			cs.saveStateLocked()
			if local == hash {
				cs.recordLocked(Outcome{Local: local, Result: OutcomePublished, Revision: newRev})
			}
			cs.mu.Unlock()
			cs.log.Info("configuration change published to the cluster", "revision", newRev)
			return
		}
		if !isConflict(err) || attempt == 5 {
			cs.log.Error("the organization's configuration change on this member is not in the cluster yet (JetStream unavailable?); it is published with the next change",
				"err", err)
			cs.pending(local, "JetStream did not take it ("+err.Error()+"); it is published with the next change, or at the next start of transportd")
			return
		}
		// Another member's change got in first: take it, with this
		// member's change merged on top where it touched other objects.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		e, gerr := kv.Get(cctx, orgKey)
		cancel()
		if gerr != nil {
			cs.log.Error("another member changed the organization's configuration at the same time, and its change cannot be read", "err", gerr)
			return
		}
		v, oerr := cs.open(e)
		if oerr != nil {
			return
		}
		cs.mu.Lock()
		if e.Revision() > cs.rev {
			cs.rev, cs.bucket, cs.bucketDoc = e.Revision(), v.Doc.Hash(), &v.Doc
		}
		cs.mu.Unlock()
		merged, aerr := cs.adopt(v, e.Revision())
		if aerr != nil || merged.Hash() == v.Doc.Hash() {
			return // converged on the winner's (or the failure is logged)
		}
		cs.log.Info("another member changed the organization's configuration at the same time; this member's change is merged on top of it", "from", v.Origin, "revision", e.Revision())
		doc, hash, rev = merged, merged.Hash(), e.Revision()
	}
}

// pending records that the local change hash is not in the cluster yet.
func (cs *ConfigSync) pending(hash, why string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.recordLocked(Outcome{Local: hash, Result: OutcomePending, Message: why})
}

// put seals doc and writes it at rev (0: creates the key).
func (cs *ConfigSync) put(ctx context.Context, kv jetstream.KeyValue, doc config.OrgDoc, rev uint64) (uint64, error) {
	plain, err := json.Marshal(orgValue{Origin: cs.node.Name(), Doc: doc})
	if err != nil {
		return 0, fmt.Errorf("encoding the organization's configuration: %w", err)
	}
	sealed, err := Seal(cs.node.Key(), plain, cs.aad())
	if err != nil {
		return 0, fmt.Errorf("sealing the organization's configuration: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if rev == 0 {
		return kv.Create(cctx, orgKey, sealed)
	}
	return kv.Update(cctx, orgKey, sealed, rev)
}

// isConflict tells a compare-and-set refusal: the key changed since rev.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// String is for logs.
func (cs *ConfigSync) String() string { return fmt.Sprintf("config sync of %s", cs.path) }

// syncState is what this member and the bucket last agreed on, kept in
// the cluster folder across restarts.
type syncState struct {
	Rev    uint64 `json:"rev"`
	Bucket string `json:"bucket"` // the document's hash at Rev
	Local  string `json:"local"`  // this member's hash when it agreed
}

func (cs *ConfigSync) statePath() string { return filepath.Join(cs.node.opts.Dir, "config-sync.json") }

func (cs *ConfigSync) loadState() syncState {
	var st syncState
	if data, err := os.ReadFile(cs.statePath()); err == nil {
		json.Unmarshal(data, &st)
	}
	return st
}

func (cs *ConfigSync) saveState() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.saveStateLocked()
}

func (cs *ConfigSync) saveStateLocked() {
	if cs.rev == 0 || cs.synced == "" || cs.bucket == "" {
		return
	}
	data, _ := json.Marshal(syncState{Rev: cs.rev, Bucket: cs.bucket, Local: cs.synced})
	if err := durable.WriteFile(cs.statePath(), data, 0o600); err != nil {
		cs.log.Warn("could not keep the configuration sync state; a change made while transportd is down would be replaced by the cluster's", "err", err)
	}
}

// mayCreateConfig tells whether this member may put the first
// configuration in an empty bucket: the first member (the one without
// configured routes: cluster new), or any member on an external NATS.
// Members that joined wait for it, so that a joiner that comes up first
// never replaces the organization's configuration with its own.
func (n *Node) mayCreateConfig() bool {
	return len(n.opts.Cluster.Routes) == 0 || n.opts.Cluster.ExternalUrl != ""
}

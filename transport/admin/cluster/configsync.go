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
type ConfigSync struct {
	node *Node
	path string
	log  *slog.Logger

	local chan *config.Config

	mu sync.Mutex
	// synced is the hash of the document this member and the bucket last
	// agreed on; rev the bucket revision it was read or written at.
	synced string
	rev    uint64
	// bucket is the hash of the document at rev.
	bucket string
	// failed is the revision this member could not apply: until one
	// applies, its own changes are not published over the cluster's.
	failed uint64
	// adopting is set while a document from the bucket is being written
	// to the files: the reload it causes is adopted, not published.
	adopting string
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
	w, err := kv.Watch(ctx, orgKey)
	if err != nil {
		cs.log.Error("watching the cluster's configuration", "err", err)
		return
	}
	defer w.Stop()
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
			cs.remote(ctx, e, initial, current)
		case cfg := <-cs.local:
			current = cfg
			if !initial {
				cs.publish(ctx, kv, cfg)
			}
		}
	}
}

// remote applies a document another member (or this one) published.
//
// At start (initial), a member whose files changed while its daemon was
// down, and whose last agreement with the bucket is still the bucket's
// value, keeps its files and publishes them instead.
func (cs *ConfigSync) remote(ctx context.Context, e jetstream.KeyValueEntry, initial bool, current *config.Config) {
	plain, err := Open(cs.node.Key(), e.Value(), cs.aad())
	if err != nil {
		cs.log.Error("the cluster's configuration cannot be opened with this member's cluster key; not applied", "revision", e.Revision(), "err", err)
		return
	}
	var v orgValue
	if err := json.Unmarshal(plain, &v); err != nil {
		cs.log.Error("the cluster's configuration is damaged; not applied", "revision", e.Revision(), "err", err)
		return
	}
	hash := v.Doc.Hash()
	cs.mu.Lock()
	if e.Revision() <= cs.rev {
		cs.mu.Unlock()
		return
	}
	cs.rev = e.Revision()
	same := hash == cs.synced || hash == cs.bucket
	cs.bucket = hash
	cs.mu.Unlock()
	if same {
		return // this member's own publication, or nothing new
	}
	if saved := cs.loadState(); initial && current != nil && saved.Rev == e.Revision() && saved.Bucket == hash {
		if mine, err := current.OrgDoc(); err == nil && mine.Hash() != saved.Local {
			cs.mu.Lock()
			cs.synced = saved.Local
			cs.mu.Unlock()
			cs.log.Info("this member's configuration changed while transportd was down; publishing it to the cluster", "revision", e.Revision())
			return
		}
	}
	var changed bool
	_, err = config.Update(cs.path, func(c *config.Config) error {
		mine, err := c.OrgDoc()
		if err != nil {
			return err
		}
		if mine.Hash() == hash {
			return errUnchanged
		}
		changed = true
		return c.ApplyOrgDoc(v.Doc)
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err != nil {
		cs.failed = e.Revision()
		cs.log.Error("a configuration change from the cluster is not applied on this member; its configuration stays as it was (fix the cause, then make any change to the cluster's configuration)",
			"from", v.Origin, "revision", e.Revision(), "err", err)
		return
	}
	cs.synced, cs.failed = hash, 0
	cs.saveStateLocked()
	if changed {
		cs.adopting = hash
		cs.log.Info("configuration change from the cluster written; applying it", "from", v.Origin, "revision", e.Revision())
	}
}

var errUnchanged = errors.New("unchanged")

// publish puts this member's organization-wide configuration in the
// bucket when it differs from what the bucket has, with compare-and-set
// on the revision last seen.
func (cs *ConfigSync) publish(ctx context.Context, kv jetstream.KeyValue, cfg *config.Config) {
	doc, err := cfg.OrgDoc()
	if err != nil {
		cs.log.Error("reading the organization's configuration", "err", err)
		return
	}
	hash := doc.Hash()
	cs.mu.Lock()
	defer cs.saveState()
	if cs.adopting != "" {
		// The reload of a document from the cluster: adopt what this
		// member made of it (its own certificates stay), without
		// publishing it back.
		cs.adopting = ""
		cs.synced = hash
		cs.mu.Unlock()
		return
	}
	if hash == cs.synced {
		cs.mu.Unlock()
		return
	}
	rev, failed := cs.rev, cs.failed
	cs.mu.Unlock()
	if rev == 0 && !cs.node.mayCreateConfig() {
		cs.log.Info("waiting for the cluster's configuration from its first member; this member's change is published once it has it")
		return
	}
	if failed != 0 {
		cs.log.Error("this member's configuration change is not published: it has not applied the cluster's configuration (revision in the log above); fix that first, or its change would undo the cluster's",
			"revision", failed)
		return
	}
	plain, err := json.Marshal(orgValue{Origin: cs.node.Name(), Doc: doc})
	if err != nil {
		cs.log.Error("encoding the organization's configuration", "err", err)
		return
	}
	sealed, err := Seal(cs.node.Key(), plain, cs.aad())
	if err != nil {
		cs.log.Error("sealing the organization's configuration", "err", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var newRev uint64
	if rev == 0 {
		newRev, err = kv.Create(cctx, orgKey, sealed)
	} else {
		newRev, err = kv.Update(cctx, orgKey, sealed, rev)
	}
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) &&
			(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			cs.log.Warn("another member changed the organization's configuration at the same time; its change is applied here and this member's last change is NOT in the cluster: make it again",
				"err", err)
			return
		}
		cs.log.Error("the organization's configuration change on this member is not in the cluster yet (JetStream unavailable?); it is published with the next change",
			"err", err)
		return
	}
	cs.mu.Lock()
	if newRev > cs.rev {
		cs.rev = newRev
	}
	cs.synced, cs.bucket = hash, hash
	cs.saveStateLocked()
	cs.mu.Unlock()
	cs.log.Info("configuration change published to the cluster", "revision", newRev)
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

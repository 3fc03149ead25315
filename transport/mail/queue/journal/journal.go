// Package journal is the queue's log-structured store: every accepted message,
// every state change and every removal is a record appended to a segment
// file, and one committer goroutine makes a whole batch of records durable
// with a single fsync (group commit). *Journal implements queue.Store.
//
// On disk, under the queue folder:
//
//	journal/<16-digit seq>.log  append-only segments, rotated at SegmentSize
//	big/<id>                    bodies over BigMessageThreshold, one file each
//
// A record is a fixed 52-byte header followed by its payload:
//
//	0  magic "TDJ1"
//	4  type (1 MSG, 2 STATE, 3 DONE)
//	5  length of the id
//	6  flags (uint16; bit 0 on MSG: the body is in big/<id>)
//	8  id, zero-padded to 32 bytes
//	40 payload length (uint64)
//	48 CRC-32C of header bytes 0..47 and the payload (uint32)
//
// All integers are little-endian. A MSG payload is the envelope JSON length
// (uint32), the envelope JSON, then the message (absent for a big message);
// a STATE payload is the State JSON; a DONE payload is the range of
// segments (first, last seq: uint64 each) that may hold MSG records of the
// message, so that copy-forward can tell which DONE records still matter.
//
// Segment deletion rules. A segment is pinned by the current MSG record of
// every live message and by the latest STATE record of every live message.
// A DONE record must outlive every MSG record of its message: a segment
// remembers, per DONE record, the range of segments that may hold a MSG
// record of that message (one segment, unless copy-forward was cut short
// by a crash), and is only deleted once those are gone. Deletions are made
// durable one at a time, so a crash cannot reorder them.
package journal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a Journal; zero values take the defaults.
type Options struct {
	// SegmentSize is the size at which the active segment is rotated
	// (default DefaultSegmentSize).
	SegmentSize int64
	// BigMessageThreshold is the body size above which a message is written
	// to its own file under big/ (default DefaultBigMessageThreshold).
	BigMessageThreshold int64
}

// Journal is a Store that appends messages, states and removals to
// segment files, sharing one fsync among all records committed together.
// It is safe for concurrent use.
type Journal struct {
	dir, jdir, bdir string
	log             *slog.Logger
	segSize         int64
	bigThreshold    int64
	castagnoli      *crc32.Table
	idSeq           atomic.Uint64
	bufs            sync.Pool // *bytes.Buffer for bodies being received

	// qmu guards the records waiting for the committer.
	qmu     sync.Mutex
	queue   []pendingRec
	cur     *commitGroup
	failed  error // sticky: the journal can no longer be trusted to write
	closing bool
	kick    chan struct{}
	stopped chan struct{}
	// lazyTimer wakes the committer for records handed over without a
	// kick (submitKick), when no other record did meanwhile.
	lazyTimer *time.Timer

	// mu guards the index and the segments.
	mu     sync.Mutex
	index  map[string]*jentry
	segs   []*segment // ascending seq
	active *segment
	gcDue  bool
	closed bool

	// deadCopies are messages removed while copy-forward copied them:
	// their DONE record also cancels the copy (committer only).
	deadCopies map[string]uint64

	wf *os.File // active segment, written by the committer only

	// unsynced: the active segment holds records written without an
	// fsync (a DONE-only batch, see lazyBatch); committer only.
	unsynced bool

	// prealloc is the size of the active segment's file: the zeroed
	// region after its records ends there (prealloc.go; committer only).
	prealloc int64
}

// segment is one journal file.
type segment struct {
	seq  uint64
	path string
	rf   *os.File // shared read-only handle
	size int64    // bytes of valid records
	pins int      // live MSG records + latest STATE records here
	live int64    // bytes of those records
	// doneRefs are the segments the DONE records here cancel MSG
	// records in: ranges first -> last seq.
	doneRefs map[uint64]uint64
	readers  int  // open readers on rf
	damaged  bool // a bad record was skipped: kept for the admin
	gone     bool // deleted
}

func (s *segment) pin(n int64) { s.pins++; s.live += n }

// jentry is a live message in the index: locations only, never the body.
type jentry struct {
	msg      *segment
	msgOff   int64 // record offset
	msgLen   int64 // record length
	bodyRel  int64 // body offset within the record
	big      bool
	state    *segment // nil when no state was saved
	stateOff int64
	stateLen int64
	minMsg   uint64 // oldest segment that may hold a MSG record of this id
}

// pendingRec is a record handed to the committer.
type pendingRec struct {
	typ     byte
	id      string
	rec     []byte
	bodyRel int64
	big     bool
	msgLo   uint64 // DONE: the segments that may hold the message's MSG records
	msgHi   uint64
	bigPath string // DONE: body file to delete once the DONE is durable
}

// commitGroup is one batch: its waiters are released together.
type commitGroup struct {
	done chan struct{}
	err  error
}

var errJournalClosed = errors.New("queue journal closed")

// Open opens (creating if needed) the journal under dir with the
// default options, recovering what a crash left: see OpenOptions.
func Open(dir string, logger *slog.Logger) (*Journal, error) {
	return OpenOptions(dir, logger, Options{})
}

// OpenOptions opens (creating if needed) the journal under dir. It
// scans every segment, rebuilds the index, cuts off a torn record at the
// end of the last segment (it was never acknowledged), deletes orphaned
// big-message files and empty segments, then starts the committer.
func OpenOptions(dir string, logger *slog.Logger, o Options) (*Journal, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.BigMessageThreshold <= 0 {
		o.BigMessageThreshold = DefaultBigMessageThreshold
	}
	j := &Journal{
		dir: dir, jdir: filepath.Join(dir, "journal"), bdir: filepath.Join(dir, "big"),
		log: logger, segSize: o.SegmentSize, bigThreshold: o.BigMessageThreshold,
		castagnoli: crc32.MakeTable(crc32.Castagnoli),
		cur:        &commitGroup{done: make(chan struct{})},
		kick:       make(chan struct{}, 1), stopped: make(chan struct{}),
		index: map[string]*jentry{}, deadCopies: map[string]uint64{},
	}
	j.bufs.New = func() any { return new(bytes.Buffer) }
	for _, d := range []string{j.jdir, j.bdir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating queue journal folder: %w", err)
		}
	}
	if err := j.recover(); err != nil {
		j.closeFiles()
		return nil, err
	}
	go j.committer()
	return j, nil
}

// Close writes what is queued, stops the committer and closes the files.
// Readers still open keep working until they are closed.
func (j *Journal) Close() error {
	j.qmu.Lock()
	already := j.closing
	j.closing = true
	j.qmu.Unlock()
	if !already {
		j.signal()
	}
	<-j.stopped
	j.qmu.Lock()
	if j.lazyTimer != nil {
		j.lazyTimer.Stop()
		j.lazyTimer = nil
	}
	j.qmu.Unlock()
	j.closeFiles()
	return nil
}

func (j *Journal) closeFiles() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.closed = true
	if j.wf != nil {
		if j.unsynced {
			j.wf.Sync() // DONE records: best effort, nothing waits for them
		}
		if j.active != nil {
			j.trimActive(j.active.size) // best effort: recovery cuts the zeros too
		}
		j.wf.Close()
	}
	for _, s := range j.segs {
		if s.readers == 0 && s.rf != nil {
			s.rf.Close()
			s.rf = nil
		}
	}
}

// Dir returns the queue folder.
func (j *Journal) Dir() string { return j.dir }

// NewID returns a queue id: time-ordered, unique, 25 upper-case hex digits
// (the format of the per-file store before it).
func (j *Journal) NewID() string {
	var r [4]byte
	rand.Read(r[:])
	// fmt.Sprintf("%013X%04X%08X", ...), without fmt's cost per message.
	var b [25]byte
	putHex(b[:13], uint64(time.Now().UnixMilli()))
	putHex(b[13:17], j.idSeq.Add(1)&0xFFFF)
	putHex(b[17:], uint64(r[0])<<24|uint64(r[1])<<16|uint64(r[2])<<8|uint64(r[3]))
	return string(b[:])
}

// putHex writes v into b as upper-case hex digits, zero-padded to len(b)
// (the digits above len(b) are dropped; the callers' values fit).
func putHex(b []byte, v uint64) {
	const digits = "0123456789ABCDEF"
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
}

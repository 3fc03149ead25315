package queue

// Journal is the log-structured Store: every accepted message, every state
// change and every removal is a record appended to a segment file, and one
// committer goroutine makes a whole batch of records durable with a single
// fsync (group commit).
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

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

const (
	journalMagic = "TDJ1"

	recMsg   byte = 1
	recState byte = 2
	recDone  byte = 3

	recHdrSize  = 52
	recIDSize   = 32
	recLenOff   = 40
	recCRCOff   = 48
	recFlagBig  = 1
	msgMetaSize = 4  // envelope JSON length in a MSG payload
	donePayload = 16 // segment range in a DONE payload

	// DefaultSegmentSize is the size at which a journal segment is rotated.
	DefaultSegmentSize = 64 << 20
	// DefaultBigMessageThreshold is the message size above which the body
	// goes to its own file instead of the journal.
	DefaultBigMessageThreshold = 256 << 10

	// compactBelow: a segment whose live bytes are under 1/compactBelow of
	// its size is copied forward at rotation.
	compactBelow = 4
	// writeChunk bounds the committer's write buffer.
	writeChunk = 4 << 20
)

// JournalOptions tune a Journal; zero values take the defaults.
type JournalOptions struct {
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

// OpenJournal opens (creating if needed) the journal under dir with the
// default options, recovering what a crash left: see OpenJournalOptions.
func OpenJournal(dir string, logger *slog.Logger) (*Journal, error) {
	return OpenJournalOptions(dir, logger, JournalOptions{})
}

// OpenJournalOptions opens (creating if needed) the journal under dir. It
// scans every segment, rebuilds the index, cuts off a torn record at the
// end of the last segment (it was never acknowledged), deletes orphaned
// big-message files and empty segments, then starts the committer.
func OpenJournalOptions(dir string, logger *slog.Logger, o JournalOptions) (*Journal, error) {
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

// recover scans the segments and prepares the active one.
func (j *Journal) recover() error {
	entries, err := os.ReadDir(j.jdir)
	if err != nil {
		return fmt.Errorf("reading queue journal: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".log") || len(name) != 16+4 {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		s := &segment{seq: seq, path: j.segPath(seq)}
		s.rf, err = os.Open(s.path)
		if err != nil {
			return fmt.Errorf("opening queue journal segment: %w", err)
		}
		j.segs = append(j.segs, s)
		if err := j.scan(s, i == len(seqs)-1); err != nil {
			return err
		}
	}
	j.dropMissingBigFiles()
	j.removeOrphanBigFiles()
	if len(j.segs) == 0 {
		if err := j.newSegment(1); err != nil {
			return err
		}
	} else {
		last := j.segs[len(j.segs)-1]
		j.wf, err = os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("opening queue journal segment for writing: %w", err)
		}
		j.active = last
	}
	if len(j.index) > 0 {
		j.log.Info("queue journal recovered", "messages", len(j.index), "segments", len(j.segs))
	}
	j.collect(nil)
	if j.active.size >= j.segSize {
		j.rotate()
	}
	return nil
}

func (j *Journal) segPath(seq uint64) string {
	return filepath.Join(j.jdir, fmt.Sprintf("%016d.log", seq))
}

// scan replays one segment into the index. A bad record at the end of the
// last segment is a torn write and is cut off; elsewhere the rest of the
// segment is skipped and the segment is kept for the admin.
func (j *Journal) scan(s *segment, last bool) error {
	st, err := s.rf.Stat()
	if err != nil {
		return fmt.Errorf("reading queue journal segment: %w", err)
	}
	fsize := st.Size()
	br := bufio.NewReaderSize(io.NewSectionReader(s.rf, 0, fsize), 1<<20)
	var hdr [recHdrSize]byte
	var payload []byte
	var off int64
	for off < fsize {
		id, typ, flags, n, bad := "", byte(0), uint16(0), int64(0), ""
		if fsize-off < recHdrSize {
			bad = "record header cut short"
		} else if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return fmt.Errorf("reading queue journal segment %s: %w", s.path, err)
		} else {
			id, typ, flags, n, bad = parseHeader(hdr[:])
			if bad == "" && n > fsize-off-recHdrSize {
				bad = "record cut short"
			}
		}
		if bad == "" {
			if int64(cap(payload)) < n {
				payload = make([]byte, n)
			}
			payload = payload[:n]
			if _, err := io.ReadFull(br, payload); err != nil {
				return fmt.Errorf("reading queue journal segment %s: %w", s.path, err)
			}
			crc := crc32.Update(crc32.Checksum(hdr[:recCRCOff], j.castagnoli), j.castagnoli, payload)
			if crc != binary.LittleEndian.Uint32(hdr[recCRCOff:]) {
				bad = "bad checksum"
			}
		}
		var envLen int64
		if bad == "" && typ == recDone && n < donePayload {
			bad = "done record too short"
		}
		if bad == "" && typ == recMsg {
			if n < msgMetaSize {
				bad = "message record too short"
			} else if envLen = int64(binary.LittleEndian.Uint32(payload)); envLen > n-msgMetaSize {
				bad = "bad envelope length"
			}
		}
		if bad != "" {
			if last {
				j.log.Warn("queue journal: cutting off a torn record (never acknowledged)", "segment", s.path, "offset", off, "bytes", fsize-off, "reason", bad)
				if err := truncateFile(s.path, off); err != nil {
					return err
				}
			} else {
				s.damaged = true
				j.log.Error("queue journal: damaged record, skipping the rest of the segment (kept for inspection)", "segment", s.path, "offset", off, "bytes", fsize-off, "reason", bad)
				off = fsize
			}
			break
		}
		recLen := recHdrSize + n
		switch typ {
		case recMsg:
			j.applyMsg(id, s, off, recLen, recHdrSize+msgMetaSize+envLen, flags&recFlagBig != 0)
		case recState:
			j.applyState(id, s, off, recLen)
		case recDone:
			j.applyDone(s, binary.LittleEndian.Uint64(payload), binary.LittleEndian.Uint64(payload[8:]))
			if e := j.index[id]; e != nil {
				j.applyDone(s, e.minMsg, e.msg.seq)
				j.unlink(id, e)
			}
		}
		off += recLen
	}
	s.size = off
	return nil
}

// parseHeader checks a record header; bad is empty when it is sound.
func parseHeader(h []byte) (id string, typ byte, flags uint16, n int64, bad string) {
	if string(h[:4]) != journalMagic {
		return "", 0, 0, 0, "bad magic"
	}
	typ = h[4]
	if typ < recMsg || typ > recDone {
		return "", 0, 0, 0, "bad record type"
	}
	l := int(h[5])
	if l == 0 || l > recIDSize {
		return "", 0, 0, 0, "bad id length"
	}
	n64 := binary.LittleEndian.Uint64(h[recLenOff:])
	if n64 > 1<<40 {
		return "", 0, 0, 0, "bad payload length"
	}
	return string(h[8 : 8+l]), typ, binary.LittleEndian.Uint16(h[6:]), int64(n64), ""
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cutting off torn journal record: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("cutting off torn journal record: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cutting off torn journal record: %w", err)
	}
	return nil
}

// applyMsg indexes a MSG record (j.mu held, or during recovery).
func (j *Journal) applyMsg(id string, s *segment, off, recLen, bodyRel int64, big bool) {
	e := j.index[id]
	if e == nil {
		e = &jentry{minMsg: s.seq}
		j.index[id] = e
	} else {
		// A copy made by copy-forward: the message moves, its state stays.
		j.unpin(e.msg, e.msgLen)
	}
	e.msg, e.msgOff, e.msgLen, e.bodyRel, e.big = s, off, recLen, bodyRel, big
	s.pin(recLen)
}

// applyState records the latest STATE record of a live message.
func (j *Journal) applyState(id string, s *segment, off, recLen int64) {
	e := j.index[id]
	if e == nil {
		return // removed meanwhile: a dead record
	}
	if e.state != nil {
		j.unpin(e.state, e.stateLen)
	}
	e.state, e.stateOff, e.stateLen = s, off, recLen
	s.pin(recLen)
}

// applyDone notes that a DONE record in s cancels MSG records in the
// segments lo..hi, so s must outlive those.
func (j *Journal) applyDone(s *segment, lo, hi uint64) {
	hi = min(hi, s.seq-1)
	if lo == 0 || lo > hi {
		return
	}
	if s.doneRefs == nil {
		s.doneRefs = map[uint64]uint64{}
	}
	if old, ok := s.doneRefs[lo]; !ok || old < hi {
		s.doneRefs[lo] = hi
	}
}

// unlink drops a message from the index and releases its pins.
func (j *Journal) unlink(id string, e *jentry) {
	delete(j.index, id)
	j.unpin(e.msg, e.msgLen)
	if e.state != nil {
		j.unpin(e.state, e.stateLen)
	}
}

func (j *Journal) unpin(s *segment, n int64) {
	s.pins--
	s.live -= n
	if s.pins == 0 {
		j.gcDue = true
	}
}

// dropMissingBigFiles forgets big messages whose body file is gone: their
// DONE record was lost with a crash after the file had been deleted.
func (j *Journal) dropMissingBigFiles() {
	for id, e := range j.index {
		if !e.big {
			continue
		}
		if _, err := os.Stat(filepath.Join(j.bdir, id)); errors.Is(err, fs.ErrNotExist) {
			j.log.Warn("queue journal: body file of a big message is missing, dropping it (it had been removed)", "queue_id", id)
			j.unlink(id, e)
		}
	}
}

// removeOrphanBigFiles deletes body files no live message points at (a
// crash before their MSG record was committed, or after their DONE).
func (j *Journal) removeOrphanBigFiles() {
	entries, err := os.ReadDir(j.bdir)
	if err != nil {
		j.log.Error("queue journal: cannot read big-message folder", "err", err)
		return
	}
	for _, d := range entries {
		if e := j.index[d.Name()]; e != nil && e.big {
			continue
		}
		os.Remove(filepath.Join(j.bdir, d.Name()))
	}
}

// newSegment creates segment seq, makes its folder entry durable and makes
// it the active segment.
func (j *Journal) newSegment(seq uint64) error {
	path := j.segPath(seq)
	wf, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("creating queue journal segment: %w", err)
	}
	rf, err := os.Open(path)
	if err != nil {
		wf.Close()
		os.Remove(path)
		return fmt.Errorf("creating queue journal segment: %w", err)
	}
	if err := durable.SyncDir(j.jdir); err != nil {
		wf.Close()
		rf.Close()
		os.Remove(path)
		return err
	}
	if j.wf != nil {
		j.wf.Close()
	}
	j.wf = wf
	s := &segment{seq: seq, path: path, rf: rf}
	j.mu.Lock()
	j.segs = append(j.segs, s)
	j.active = s
	j.mu.Unlock()
	return nil
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
// (the format of Disk.NewID).
func (j *Journal) NewID() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%013X%04X%s", time.Now().UnixMilli(), j.idSeq.Add(1)&0xFFFF, strings.ToUpper(hex.EncodeToString(b[:])))
}

// validID accepts ids that fit the record header and are safe file names.
func validID(id string) bool {
	if id == "" || len(id) > recIDSize {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// encodeRecord lays out a record: header, then the payload parts.
func (j *Journal) encodeRecord(typ byte, flags uint16, id string, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	rec := make([]byte, recHdrSize+n)
	copy(rec, journalMagic)
	rec[4] = typ
	rec[5] = byte(len(id))
	binary.LittleEndian.PutUint16(rec[6:], flags)
	copy(rec[8:8+recIDSize], id)
	binary.LittleEndian.PutUint64(rec[recLenOff:], uint64(n))
	off := recHdrSize
	for _, p := range parts {
		off += copy(rec[off:], p)
	}
	crc := crc32.Update(crc32.Checksum(rec[:recCRCOff], j.castagnoli), j.castagnoli, rec[recHdrSize:])
	binary.LittleEndian.PutUint32(rec[recCRCOff:], crc)
	return rec
}

// Enqueue stores the message and returns its queue id once its record is
// on stable storage. A message over the big-message threshold is written
// to its own file first (fsynced) and the journal gets a MSG record
// pointing at it.
func (j *Journal) Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if env.ID == "" {
		env.ID = j.NewID()
	} else if !validID(env.ID) {
		return "", fmt.Errorf("enqueueing message: invalid queue id %q", env.ID)
	}
	id := env.ID
	lr := &limitedReader{r: body, max: env.MaxMessageLen}
	buf := j.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 2*int(j.bigThreshold) {
			j.bufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(lr, j.bigThreshold+1)); err != nil {
		return "", fmt.Errorf("receiving message: %w", err)
	}
	big := int64(buf.Len()) > j.bigThreshold
	var bigPath string
	if big {
		bigPath = filepath.Join(j.bdir, id)
		n, err := j.writeBig(bigPath, buf.Bytes(), lr)
		if err != nil {
			return "", err
		}
		env.Size = n
	} else {
		env.Size = int64(buf.Len())
	}
	fail := func(err error) (string, error) {
		if big {
			os.Remove(bigPath)
		}
		return "", err
	}
	js, err := json.Marshal(env)
	if err != nil {
		return fail(fmt.Errorf("encoding envelope: %w", err))
	}
	var meta [msgMetaSize]byte
	binary.LittleEndian.PutUint32(meta[:], uint32(len(js)))
	p := pendingRec{typ: recMsg, id: id, bodyRel: int64(recHdrSize + msgMetaSize + len(js)), big: big}
	if big {
		p.rec = j.encodeRecord(recMsg, recFlagBig, id, meta[:], js)
	} else {
		p.rec = j.encodeRecord(recMsg, 0, id, meta[:], js, buf.Bytes())
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := j.submitWait(p); err != nil {
		return fail(fmt.Errorf("enqueueing message %s: %w", id, err))
	}
	return id, nil
}

// writeBig writes a big message body to its own file and makes it durable.
func (j *Journal) writeBig(path string, head []byte, rest io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("creating big message file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err := f.Write(head); err != nil {
		return 0, fmt.Errorf("writing big message file: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	n, err := io.Copy(w, rest)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return 0, err
		}
		return 0, fmt.Errorf("writing big message file: %w", err)
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("writing big message file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("syncing big message file: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("closing big message file: %w", err)
	}
	if err := durable.SyncDir(j.bdir); err != nil {
		return 0, err
	}
	ok = true
	return int64(len(head)) + n, nil
}

// submit hands a record to the committer and returns the batch it joined.
func (j *Journal) submit(p pendingRec) (*commitGroup, error) {
	j.qmu.Lock()
	if j.closing {
		j.qmu.Unlock()
		return nil, errJournalClosed
	}
	if j.failed != nil {
		err := j.failed
		j.qmu.Unlock()
		return nil, err
	}
	j.queue = append(j.queue, p)
	g := j.cur
	j.qmu.Unlock()
	j.signal()
	return g, nil
}

// submitWait hands a record to the committer and waits until it is durable.
func (j *Journal) submitWait(p pendingRec) error {
	g, err := j.submit(p)
	if err != nil {
		return err
	}
	<-g.done
	return g.err
}

func (j *Journal) signal() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// SaveState records the delivery progress of id durably.
func (j *Journal) SaveState(id string, st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	j.mu.Lock()
	_, ok := j.index[id]
	j.mu.Unlock()
	if !ok {
		return fmt.Errorf("saving state of %s: %w", id, ErrNoSuchMessage)
	}
	if err := j.submitWait(pendingRec{typ: recState, id: id, rec: j.encodeRecord(recState, 0, id, data)}); err != nil {
		return fmt.Errorf("saving state of %s: %w", id, err)
	}
	return nil
}

// Remove deletes a finished message: it leaves the index at once and a
// DONE record is appended without waiting for the sync (after a power loss
// the message may be delivered once more). A big message's body file is
// deleted once the DONE record is durable. Removing an unknown id is not
// an error.
func (j *Journal) Remove(id string) error {
	j.mu.Lock()
	e := j.index[id]
	if e == nil {
		j.mu.Unlock()
		return nil
	}
	j.unlink(id, e)
	lo, hi, big := e.minMsg, e.msg.seq, e.big
	j.mu.Unlock()
	p := pendingRec{typ: recDone, id: id, msgLo: lo, msgHi: hi} // encoded by the committer
	if big {
		p.bigPath = filepath.Join(j.bdir, id)
	}
	if _, err := j.submit(p); err != nil {
		return fmt.Errorf("removing message %s: %w", id, err)
	}
	return nil
}

// journalReader reads a message body out of a segment.
type journalReader struct {
	*io.SectionReader
	once    sync.Once
	release func()
}

// Close releases the segment.
func (r *journalReader) Close() error {
	r.once.Do(r.release)
	return nil
}

// Open returns a reader over the stored message body; it has a Size method.
func (j *Journal) Open(id string) (io.ReadCloser, error) {
	j.mu.Lock()
	e := j.index[id]
	if e == nil || j.closed {
		j.mu.Unlock()
		return nil, fmt.Errorf("opening message %s: %w", id, fs.ErrNotExist)
	}
	if e.big {
		j.mu.Unlock()
		f, err := os.Open(filepath.Join(j.bdir, id))
		if err != nil {
			return nil, fmt.Errorf("opening message %s: %w", id, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening message %s: %w", id, err)
		}
		return sectionReadCloser{io.NewSectionReader(f, 0, st.Size()), f}, nil
	}
	s := e.msg
	s.readers++
	r := &journalReader{SectionReader: io.NewSectionReader(s.rf, e.msgOff+e.bodyRel, e.msgLen-e.bodyRel)}
	j.mu.Unlock()
	r.release = func() { j.release(s) }
	return r, nil
}

// release drops a reader's hold on a segment file.
func (j *Journal) release(s *segment) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s.readers--
	if s.readers == 0 && (s.gone || j.closed) && s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

// loadItem is a live message located for Load.
type loadItem struct {
	id                 string
	msg, state         *segment
	envOff, envLen     int64
	stateOff, stateLen int64
}

// Load returns every live message with its latest state, oldest (lowest
// id) first. The journal was scanned by OpenJournal; Load reads the
// envelopes and states back from the segments.
func (j *Journal) Load() ([]Stored, error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil, fmt.Errorf("loading queue: %w", errJournalClosed)
	}
	items := make([]loadItem, 0, len(j.index))
	for id, e := range j.index {
		it := loadItem{id: id, msg: e.msg, envOff: e.msgOff + recHdrSize + msgMetaSize, envLen: e.bodyRel - recHdrSize - msgMetaSize}
		e.msg.readers++
		if e.state != nil {
			it.state, it.stateOff, it.stateLen = e.state, e.stateOff+recHdrSize, e.stateLen-recHdrSize
			e.state.readers++
		}
		items = append(items, it)
	}
	j.mu.Unlock()
	slices.SortFunc(items, func(a, b loadItem) int { return strings.Compare(a.id, b.id) })
	out := make([]Stored, 0, len(items))
	var firstErr error
	var buf []byte
	for _, it := range items {
		s, err := j.loadOne(it, &buf)
		j.release(it.msg)
		if it.state != nil {
			j.release(it.state)
		}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case err == nil:
			out = append(out, s)
		case errors.As(err, &se) || errors.As(err, &te):
			// Its checksum was good, so this is a bug, not a torn write:
			// keep going and leave the records for the admin.
			j.log.Error("queue journal: cannot decode a stored message, skipping it", "queue_id", it.id, "err", err)
		case firstErr == nil:
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func (j *Journal) loadOne(it loadItem, buf *[]byte) (Stored, error) {
	var s Stored
	read := func(f *os.File, off, n int64) ([]byte, error) {
		if int64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		b := (*buf)[:n]
		_, err := f.ReadAt(b, off)
		return b, err
	}
	b, err := read(it.msg.rf, it.envOff, it.envLen)
	if err != nil {
		return s, fmt.Errorf("loading message %s: %w", it.id, err)
	}
	if err := json.Unmarshal(b, &s.Envelope); err != nil {
		return s, fmt.Errorf("loading message %s: decoding envelope: %w", it.id, err)
	}
	s.Envelope.ID = it.id
	if it.state != nil {
		b, err := read(it.state.rf, it.stateOff, it.stateLen)
		if err != nil {
			return s, fmt.Errorf("loading state of %s: %w", it.id, err)
		}
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			return s, fmt.Errorf("loading state of %s: %w", it.id, err)
		}
		s.State = &st
	}
	return s, nil
}

// ---- the committer ----

// committer owns the active segment: it writes each batch of pending
// records, syncs once, indexes them and releases their waiters; records
// handed over meanwhile form the next batch.
func (j *Journal) committer() {
	defer close(j.stopped)
	var buf []byte
	for range j.kick {
		for {
			j.qmu.Lock()
			batch, g, closing, failed := j.queue, j.cur, j.closing, j.failed
			if len(batch) > 0 {
				j.queue = nil
				j.cur = &commitGroup{done: make(chan struct{})}
			}
			j.qmu.Unlock()
			if len(batch) == 0 {
				if closing {
					return
				}
				break
			}
			if failed != nil {
				g.err = failed
			} else {
				g.err = j.commit(batch, &buf)
			}
			close(g.done)
			if g.err == nil {
				for _, p := range batch {
					if p.bigPath != "" {
						os.Remove(p.bigPath)
					}
				}
			}
			j.mu.Lock()
			rotate, gc := j.active.size >= j.segSize, j.gcDue
			j.mu.Unlock()
			switch {
			case rotate:
				j.rotate()
			case gc:
				j.collect(nil)
			}
		}
	}
}

// fail makes the journal refuse further writes: after a failed fsync the
// kernel's page cache can no longer be trusted to match the disk.
func (j *Journal) fail(err error) {
	j.qmu.Lock()
	if j.failed == nil {
		j.failed = err
	}
	j.qmu.Unlock()
	j.log.Error("queue journal failed, no longer accepting messages", "err", err)
}

// appendRecords writes records to the active segment with as few write
// calls as possible and syncs once; on a write error the segment is cut
// back to where it was. It returns each record's offset.
func (j *Journal) appendRecords(recs [][]byte, buf *[]byte) ([]int64, error) {
	j.mu.Lock()
	start := j.active.size
	j.mu.Unlock()
	offs := make([]int64, len(recs))
	pos := start
	b := (*buf)[:0]
	var werr error
	write := func(p []byte) {
		if len(p) > 0 && werr == nil {
			if _, err := j.wf.Write(p); err != nil {
				werr = err
			}
		}
	}
	for i, r := range recs {
		offs[i] = pos
		pos += int64(len(r))
		if len(b)+len(r) > writeChunk {
			write(b)
			b = b[:0]
		}
		if len(r) >= writeChunk {
			write(r) // a big record goes out as it is, without a copy
			continue
		}
		b = append(b, r...)
	}
	write(b)
	if cap(b) <= writeChunk {
		*buf = b[:0]
	}
	if werr != nil {
		if err := j.wf.Truncate(start); err != nil {
			j.fail(fmt.Errorf("writing queue journal: %w; cutting back: %w", werr, err))
		}
		return nil, fmt.Errorf("writing queue journal: %w", werr)
	}
	if err := j.wf.Sync(); err != nil {
		err = fmt.Errorf("syncing queue journal: %w", err)
		j.fail(err)
		return nil, err
	}
	j.mu.Lock()
	j.active.size = pos
	j.mu.Unlock()
	return offs, nil
}

// commit makes a batch durable and indexes it.
func (j *Journal) commit(batch []pendingRec, buf *[]byte) error {
	recs := make([][]byte, len(batch))
	for i := range batch {
		p := &batch[i]
		if p.typ == recDone {
			if c, ok := j.deadCopies[p.id]; ok {
				p.msgHi = max(p.msgHi, c)
				delete(j.deadCopies, p.id)
			}
			var rng [donePayload]byte
			binary.LittleEndian.PutUint64(rng[:], p.msgLo)
			binary.LittleEndian.PutUint64(rng[8:], p.msgHi)
			p.rec = j.encodeRecord(recDone, 0, p.id, rng[:])
		}
		recs[i] = p.rec
	}
	offs, err := j.appendRecords(recs, buf)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.active
	for i, p := range batch {
		n := int64(len(p.rec))
		switch p.typ {
		case recMsg:
			j.applyMsg(p.id, s, offs[i], n, p.bodyRel, p.big)
		case recState:
			j.applyState(p.id, s, offs[i], n)
		case recDone:
			j.applyDone(s, p.msgLo, p.msgHi)
		}
	}
	return nil
}

// rotate starts a new segment, then copies forward sparse old segments and
// deletes the empty ones.
func (j *Journal) rotate() {
	j.mu.Lock()
	prev := j.active
	j.mu.Unlock()
	if err := j.newSegment(prev.seq + 1); err != nil {
		j.log.Error("queue journal: cannot rotate segment", "err", err)
		return
	}
	j.collect(prev)
}

// copyItem is a live record moved by copy-forward.
type copyItem struct {
	id              string
	e               *jentry
	msgFrom, stFrom *segment
	msgOff, msgLen  int64
	stOff, stLen    int64
}

// collect deletes segments nothing needs any more. After a rotation
// (prev is the segment just rotated out) it first copies forward the live
// records of sparse old segments into the active segment, so that a few
// long-retrying messages do not pin whole segments; prev itself is left to
// settle. Runs on the committer only.
func (j *Journal) collect(prev *segment) {
	j.mu.Lock()
	j.gcDue = false
	var total, live int64
	for _, s := range j.segs {
		if s != j.active {
			total += s.size
			live += s.live
		}
	}
	// Over 4x the live data (plus slack) on disk: compact the oldest
	// segment even if it is dense, so it cannot pin the ones after it.
	force := prev != nil && total > compactBelow*live+2*j.segSize
	budget := j.segSize / compactBelow
	drop := map[*segment]bool{}
	moving := map[*segment]bool{}
	for _, s := range j.segs {
		if s == j.active || s.damaged {
			continue
		}
		settled := j.doneSettled(s, drop)
		if s.pins == 0 && settled {
			drop[s] = true
			continue
		}
		if prev == nil || s == prev {
			continue
		}
		// Sparse (or forced): move its live MSG and STATE records, and
		// the DONE records that still cancel something, to the active
		// segment.
		first := len(moving) == 0
		if (s.live*compactBelow < s.size || (force && first)) && (first || s.live <= budget) {
			moving[s] = true
			drop[s] = true
			budget -= s.live
		}
	}
	var items []copyItem
	var exists []uint64
	for _, s := range j.segs {
		exists = append(exists, s.seq)
	}
	if len(moving) > 0 {
		for id, e := range j.index {
			mv, sv := moving[e.msg], e.state != nil && moving[e.state]
			if !mv && !sv {
				continue
			}
			it := copyItem{id: id, e: e}
			if mv {
				it.msgFrom, it.msgOff, it.msgLen = e.msg, e.msgOff, e.msgLen
			}
			if e.state != nil && (mv || sv) {
				it.stFrom, it.stOff, it.stLen = e.state, e.stateOff, e.stateLen
			}
			items = append(items, it)
		}
	}
	j.mu.Unlock()

	if len(moving) > 0 && !j.copyForward(items, moving, exists) {
		for s := range moving {
			delete(drop, s)
		}
	}

	// Delete oldest first, each deletion durable before the next, so a
	// DONE record never outlives a MSG record it cancels.
	deleted := map[uint64]uint64{} // moved-from seq -> active seq
	for _, s := range slices.Clone(j.segs) {
		if !drop[s] {
			continue
		}
		j.mu.Lock()
		ok := s.pins == 0 && s != j.active && j.doneSettled(s, nil)
		j.mu.Unlock()
		if !ok {
			continue
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			j.log.Error("queue journal: cannot delete segment", "segment", s.path, "err", err)
			continue
		}
		if err := durable.SyncDir(j.jdir); err != nil {
			j.log.Error("queue journal: cannot sync folder after deleting a segment", "err", err)
		}
		j.mu.Lock()
		s.gone = true
		j.segs = slices.DeleteFunc(j.segs, func(x *segment) bool { return x == s })
		if s.readers == 0 && s.rf != nil {
			s.rf.Close()
			s.rf = nil
		}
		deleted[s.seq] = j.active.seq
		j.mu.Unlock()
		j.log.Debug("queue journal: segment deleted", "segment", s.path)
	}
	if len(items) > 0 && len(deleted) > 0 {
		j.mu.Lock()
		for _, it := range items {
			if it.msgFrom != nil && j.index[it.id] == it.e && it.e.minMsg == it.msgFrom.seq {
				if to, ok := deleted[it.msgFrom.seq]; ok {
					it.e.minMsg = to
				}
			}
		}
		j.mu.Unlock()
	}
}

// doneSettled reports whether the DONE records of s cancel nothing any
// more: every segment they refer to is deleted (or in drop, which is being
// deleted oldest first). It forgets the references that are settled.
// j.mu held.
func (j *Journal) doneSettled(s *segment, drop map[*segment]bool) bool {
	settled := true
	for lo, hi := range s.doneRefs {
		live := false
		for _, t := range j.segs {
			if t.seq > hi {
				break
			}
			if t.seq >= lo && !drop[t] {
				live = true
				break
			}
		}
		if !live && drop == nil {
			delete(s.doneRefs, lo)
		}
		settled = settled && !live
	}
	return settled
}

// copyForward appends verbatim copies of the items' MSG and STATE records,
// and of the DONE records of the moving segments that still cancel a MSG
// record in an existing segment, to the active segment, syncs, and moves
// the index to them. It reports whether the records were moved.
func (j *Journal) copyForward(items []copyItem, moving map[*segment]bool, exists []uint64) bool {
	var recs [][]byte
	var total int64
	type doneRange struct{ lo, hi uint64 }
	var dones []doneRange
	for s := range moving {
		j.mu.Lock()
		refs := len(s.doneRefs)
		j.mu.Unlock()
		if refs == 0 {
			continue
		}
		found, err := j.neededDones(s, exists)
		if err != nil {
			j.log.Error("queue journal: copy-forward cannot read DONE records", "segment", s.path, "err", err)
			return false
		}
		for _, d := range found {
			recs = append(recs, d)
			total += int64(len(d))
			dones = append(dones, doneRange{binary.LittleEndian.Uint64(d[recHdrSize:]), binary.LittleEndian.Uint64(d[recHdrSize+8:])})
		}
	}
	type ref struct {
		item  int
		state bool
	}
	var refs []ref
	read := func(s *segment, off, n int64) ([]byte, error) {
		b := make([]byte, n)
		_, err := s.rf.ReadAt(b, off)
		return b, err
	}
	for i, it := range items {
		if it.msgFrom != nil {
			b, err := read(it.msgFrom, it.msgOff, it.msgLen)
			if err != nil {
				j.log.Error("queue journal: copy-forward cannot read a record", "segment", it.msgFrom.path, "err", err)
				return false
			}
			recs, refs, total = append(recs, b), append(refs, ref{i, false}), total+it.msgLen
		}
		if it.stFrom != nil {
			b, err := read(it.stFrom, it.stOff, it.stLen)
			if err != nil {
				j.log.Error("queue journal: copy-forward cannot read a record", "segment", it.stFrom.path, "err", err)
				return false
			}
			recs, refs, total = append(recs, b), append(refs, ref{i, true}), total+it.stLen
		}
	}
	var offs []int64
	if len(recs) > 0 {
		var buf []byte
		var err error
		if offs, err = j.appendRecords(recs, &buf); err != nil {
			j.log.Error("queue journal: copy-forward failed", "err", err)
			return false
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	a := j.active
	for _, d := range dones {
		j.applyDone(a, d.lo, d.hi)
	}
	for s := range moving {
		s.doneRefs = nil // what they cancel is cancelled by the copies now
	}
	for k, r := range refs {
		k += len(dones)
		it := &items[r.item]
		e := j.index[it.id]
		if e != it.e {
			if !r.state {
				j.deadCopies[it.id] = a.seq // removed meanwhile: the copy is dead
			}
			continue
		}
		if r.state {
			j.applyState(it.id, a, offs[k], it.stLen)
		} else {
			j.applyMsg(it.id, a, offs[k], it.msgLen, e.bodyRel, e.big)
		}
	}
	if len(recs) > 0 {
		j.log.Info("queue journal: live records copied forward", "messages", len(items), "done_records", len(dones), "bytes", total, "segment", a.path)
	}
	return true
}

// neededDones returns the DONE records of s that cancel a MSG record in
// one of the existing segments.
func (j *Journal) neededDones(s *segment, exists []uint64) ([][]byte, error) {
	var out [][]byte
	var hdr [recHdrSize + donePayload]byte
	for off := int64(0); off < s.size; {
		if _, err := s.rf.ReadAt(hdr[:recHdrSize], off); err != nil {
			return nil, fmt.Errorf("reading %s at %d: %w", s.path, off, err)
		}
		_, typ, _, n, bad := parseHeader(hdr[:recHdrSize])
		if bad != "" {
			return nil, fmt.Errorf("reading %s at %d: %s", s.path, off, bad)
		}
		if typ == recDone && n == donePayload {
			if _, err := s.rf.ReadAt(hdr[recHdrSize:], off+recHdrSize); err != nil {
				return nil, fmt.Errorf("reading %s at %d: %w", s.path, off, err)
			}
			lo, hi := binary.LittleEndian.Uint64(hdr[recHdrSize:]), binary.LittleEndian.Uint64(hdr[recHdrSize+8:])
			for _, seq := range exists {
				if seq >= lo && seq <= hi && seq < s.seq {
					out = append(out, slices.Clone(hdr[:]))
					break
				}
			}
		}
		off += recHdrSize + n
	}
	return out, nil
}

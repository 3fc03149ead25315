package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/transportd/transportd/transport/durable"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// to its own file first (fsynced) and the journal gets a MSG record
// pointing at it.
func (j *Journal) Enqueue(ctx context.Context, env message.Envelope, body io.Reader) (string, error) {
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
	// The message is read after room for the record's header, metadata and
	// envelope, which are then put in front of it: the record is built in
	// place, without a copy of the body (see headroom).
	buf.Write(zeroBlock[:headroom])
	if _, err := buf.ReadFrom(io.LimitReader(lr, j.bigThreshold+1)); err != nil {
		return "", fmt.Errorf("receiving message: %w", err)
	}
	data := buf.Bytes()[headroom:]
	big := int64(len(data)) > j.bigThreshold
	var bigPath string
	if big {
		bigPath = filepath.Join(j.bdir, id)
		n, err := j.writeBig(bigPath, data, lr)
		if err != nil {
			return "", err
		}
		env.Size = n
	} else {
		env.Size = int64(len(data))
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
	switch start := headroom - int(p.bodyRel); {
	case big:
		p.rec = j.encodeRecord(recMsg, recFlagBig, id, meta[:], js)
	case start >= 0:
		rec := buf.Bytes()[start:]
		copy(rec[recHdrSize:], meta[:])
		copy(rec[recHdrSize+msgMetaSize:], js)
		j.sealRecord(rec, recMsg, 0, id)
		p.rec = rec // in buf, which stays ours until the record is written
	default: // an envelope too large for the headroom
		p.rec = j.encodeRecord(recMsg, 0, id, meta[:], js, data)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := j.submitWait(p); err != nil {
		return fail(fmt.Errorf("enqueueing message %s: %w", id, err))
	}
	return id, nil
}

// headroom is the room kept in front of a body being received for the
// record's header, metadata and envelope JSON (about 500 bytes for one
// recipient; a larger envelope takes the copying path).
const headroom = 2048

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
		if errors.Is(err, message.ErrTooLarge) {
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
	return j.submitKick(p, true)
}

// doneDelay is how long DONE records may wait for a batch to ride along
// with (see Remove) before they are written on their own.
const doneDelay = 50 * time.Millisecond

// submitKick is submit; with kick false the committer is not woken for the
// record: it joins the next batch someone else's record starts, or is
// written after doneDelay.
func (j *Journal) submitKick(p pendingRec, kick bool) (*commitGroup, error) {
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
	if !kick && j.lazyTimer == nil {
		j.lazyTimer = time.AfterFunc(doneDelay, j.signal)
	}
	j.qmu.Unlock()
	if kick {
		j.signal()
	}
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
func (j *Journal) SaveState(id string, st *message.State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	j.mu.Lock()
	_, ok := j.index[id]
	j.mu.Unlock()
	if !ok {
		return fmt.Errorf("saving state of %s: %w", id, message.ErrNoSuchMessage)
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
	// A DONE record does not wake the committer: under load it rides in
	// the write (and fsync) of the next batch of messages, at most
	// doneDelay later, instead of costing a write of its own.
	if _, err := j.submitKick(p, big); err != nil {
		return fmt.Errorf("removing message %s: %w", id, err)
	}
	return nil
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
				if j.lazyTimer != nil {
					j.lazyTimer.Stop()
					j.lazyTimer = nil
				}
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
	return j.appendRecordsSync(recs, buf, true)
}

// appendRecordsSync is appendRecords; with sync false the records are
// written but not synced (see lazyBatch), and the segment is marked as
// holding unsynced records until the next sync.
func (j *Journal) appendRecordsSync(recs [][]byte, buf *[]byte, sync bool) ([]int64, error) {
	j.mu.Lock()
	start := j.active.size
	j.mu.Unlock()
	offs := make([]int64, len(recs))
	pos := start
	b := (*buf)[:0]
	var werr error
	wpos := start // records go in place at the logical end: see prealloc.go
	write := func(p []byte) {
		if len(p) > 0 && werr == nil {
			if _, err := j.wf.WriteAt(p, wpos); err != nil {
				werr = err
			}
			wpos += int64(len(p))
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
	// Past the zeroed region the size and the blocks change: zero the
	// next chunk too, and this batch takes a full fsync (prealloc.go).
	full := pos > j.prealloc
	if full && werr == nil {
		werr = j.extendZeros(pos)
	}
	if werr != nil {
		if err := j.wf.Truncate(start); err != nil {
			j.fail(fmt.Errorf("writing queue journal: %w; cutting back: %w", werr, err))
		}
		j.prealloc = start
		return nil, fmt.Errorf("writing queue journal: %w", werr)
	}
	switch {
	case full:
		// Even a DONE-only batch: the new size is made durable at once.
		if err := j.syncActiveFull(); err != nil {
			return nil, err
		}
	case sync:
		if err := j.syncActive(); err != nil {
			return nil, err
		}
	default:
		j.unsynced = true
	}
	j.mu.Lock()
	j.active.size = pos
	j.mu.Unlock()
	return offs, nil
}

// syncActive makes everything written to the active segment durable;
// a failed fsync fails the journal (committer only).
func (j *Journal) syncActive() error {
	return j.syncWith(datasync)
}

// syncActiveFull is syncActive with a full fsync, for when the segment's
// size or blocks changed.
func (j *Journal) syncActiveFull() error {
	return j.syncWith((*os.File).Sync)
}

func (j *Journal) syncWith(sync func(*os.File) error) error {
	if err := sync(j.wf); err != nil {
		err = fmt.Errorf("syncing queue journal: %w", err)
		j.fail(err)
		return err
	}
	j.unsynced = false
	return nil
}

// lazyBatch reports whether a batch may be written without its own fsync:
// it holds only DONE records, whose writers never wait for them (Remove:
// after a power loss the message may be delivered once more) and which
// free no big-message file. Such a batch becomes durable with the next
// synced batch, or when the segment is rotated out or the journal closed;
// skipping its fsync spares one fsync per delivered message when
// deliveries and receptions do not coincide.
func lazyBatch(batch []pendingRec) bool {
	for i := range batch {
		if batch[i].typ != recDone || batch[i].bigPath != "" {
			return false
		}
	}
	return true
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
	offs, err := j.appendRecordsSync(recs, buf, !lazyBatch(batch))
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

// newSegment creates segment seq, makes its folder entry durable and makes
// it the active segment.
func (j *Journal) newSegment(seq uint64) error {
	path := j.segPath(seq)
	wf, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) // written in place: prealloc.go
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
		if j.unsynced {
			// The segment leaves the committer's hands: what it holds
			// unsynced becomes durable now, before copy-forward and
			// deletion reason about its DONE records.
			if err := j.syncActive(); err != nil {
				wf.Close()
				rf.Close()
				os.Remove(path)
				return err
			}
		}
		// The segment leaves with its records only, no zeros after them.
		if err := j.trimActive(j.activeSize()); err != nil {
			j.log.Warn("queue journal: cannot trim the previous segment", "err", err)
		}
		j.wf.Close()
	}
	j.wf, j.prealloc = wf, 0
	s := &segment{seq: seq, path: path, rf: rf}
	j.mu.Lock()
	j.segs = append(j.segs, s)
	j.active = s
	j.mu.Unlock()
	return nil
}

// limitedReader fails with message.ErrTooLarge once more than max bytes
// were read (max 0: no limit).
type limitedReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.max > 0 && l.n > l.max {
		return n, message.ErrTooLarge
	}
	return n, err
}

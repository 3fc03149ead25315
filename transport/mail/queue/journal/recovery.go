package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

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
		j.wf, err = os.OpenFile(last.path, os.O_WRONLY, 0o600) // written in place: prealloc.go
		if err != nil {
			return fmt.Errorf("opening queue journal segment for writing: %w", err)
		}
		j.active, j.prealloc = last, last.size // scan cut the file back to its records
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
		if bad != "" && (fsize-off < recHdrSize || allZero(hdr[:])) {
			// Zeros where a record would start: the preallocated space
			// after the last record (prealloc.go), unless more follows.
			clean, err := zeroTail(s.rf, off, fsize)
			if err != nil {
				return err
			}
			if clean {
				if last {
					if err := truncateFile(s.path, off); err != nil {
						return err
					}
				}
				break
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

package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/transportd/transportd/transport/durable"
)

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

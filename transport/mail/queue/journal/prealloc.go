package journal

import (
	"bytes"
	"fmt"
	"os"
)

// Preallocation. The group commit's fsync is the costliest step of
// accepting a message. Appending to a file changes its size and allocates
// blocks, so every fsync also writes the inode and the block map (or
// commits the file system's journal): two or three dependent device writes
// where the data needs one. The active segment is therefore written ahead
// of its records with zeros, preallocChunk at a time, and made durable
// with a full fsync once per chunk; the records are then written in place
// (pwrite at the segment's logical end) into blocks that already exist,
// and the group commit uses fdatasync(2), which makes the data durable and
// skips the inode when only its times changed (POSIX: "all data ... and
// the file attributes needed to retrieve it"; the size and the blocks
// were already durable). Nothing is weakened: a record is on the device
// before its writer is answered, as before.
//
// On disk the zeros are the end of the records: a record header of zeros
// cannot be a record (the magic is "TDJ1"). Recovery cuts the active
// segment back to its last record, and rotation and Close cut a segment
// back to its records, so a closed segment holds only records.

// preallocChunk is how far ahead of the records the active segment is
// zeroed: one full fsync per 4 MB of records (about 850 4 KB messages),
// less with small segments (a sixteenth of one, at least 4 KB).
const preallocChunk = 4 << 20

func (j *Journal) chunk() int64 {
	return max(min(preallocChunk, j.segSize/16), 4<<10)
}

// zeroBlock is written to extend the zeroed region (never modified).
var zeroBlock = make([]byte, 256<<10)

// extendZeros zeroes the active segment from j.prealloc up to at least
// end + chunk(); the caller then syncs with a full fsync, since the
// size and the blocks changed (committer only).
func (j *Journal) extendZeros(end int64) error {
	from := max(j.prealloc, end)
	to := end + j.chunk()
	for off := from; off < to; {
		n := min(int64(len(zeroBlock)), to-off)
		if _, err := j.wf.WriteAt(zeroBlock[:n], off); err != nil {
			return fmt.Errorf("preallocating queue journal segment: %w", err)
		}
		off += n
	}
	j.prealloc = to
	return nil
}

// trimActive cuts the active segment back to its records and makes that
// durable, before the segment is closed (committer only, or Close).
func (j *Journal) trimActive(size int64) error {
	if j.prealloc <= size {
		return nil
	}
	if err := j.wf.Truncate(size); err != nil {
		return fmt.Errorf("trimming queue journal segment: %w", err)
	}
	j.prealloc = size
	if err := j.wf.Sync(); err != nil {
		return fmt.Errorf("trimming queue journal segment: %w", err)
	}
	return nil
}

// zeroTail reports whether f holds only zeros from off to size: the
// preallocated space after the last record, not a damaged record.
func zeroTail(f *os.File, off, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if !allZero(buf[:n]) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading queue journal segment %s: %w", f.Name(), err)
		}
		off += int64(n)
	}
	return true, nil
}

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// activeSize is the logical size of the active segment.
func (j *Journal) activeSize() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.active.size
}

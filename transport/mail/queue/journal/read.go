package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

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
// id) first. The journal was scanned by Open; Load reads the
// envelopes and states back from the segments.
func (j *Journal) Load() ([]message.Stored, error) {
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
	out := make([]message.Stored, 0, len(items))
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

func (j *Journal) loadOne(it loadItem, buf *[]byte) (message.Stored, error) {
	var s message.Stored
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
		var st message.State
		if err := json.Unmarshal(b, &st); err != nil {
			return s, fmt.Errorf("loading state of %s: %w", it.id, err)
		}
		s.State = &st
	}
	return s, nil
}

// sectionReadCloser reads a big message's file.
type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionReadCloser) Close() error { return s.f.Close() }

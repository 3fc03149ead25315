package journal

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// logBuffer collects a journal's log lines for a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func openLogged(t *testing.T, dir string, o Options) (*Journal, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	j, err := OpenOptions(dir, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelWarn})), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, lb
}

// copyJournal copies the segment files of src to a new folder: what a
// crash (kill -9, power loss after the last fsync) leaves on disk.
func copyJournal(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dst, "journal"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range segmentFiles(t, src) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "journal", filepath.Base(p)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// The active segment is zeroed ahead of its records, so that the group
// commit's fdatasync writes data only; after a crash the zeros are the
// end of the records, not a torn record, and appending goes on after the
// last record. Close leaves only records in the file.
func TestJournalPreallocatedTail(t *testing.T) {
	dir := t.TempDir()
	j := openTestJournal(t, dir, Options{})
	ids := enqueueN(t, j, 3)
	seg := segmentFiles(t, dir)[0]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	size := j.activeSize()
	if int64(len(data)) < preallocChunk || int64(len(data)) <= size {
		t.Fatalf("segment file %d bytes for %d bytes of records: not zeroed ahead", len(data), size)
	}
	if !allZero(data[size:]) {
		t.Fatal("bytes after the records are not zeros")
	}

	crashed := copyJournal(t, dir)
	j2, logs := openLogged(t, crashed, Options{})
	if got := loadIDs(t, j2); !slices.Equal(got, ids) {
		t.Fatalf("after a crash: %v, want %v", got, ids)
	}
	if l := logs.String(); l != "" {
		t.Fatalf("preallocated zeros reported as damage: %s", l)
	}
	more := enqueueN(t, j2, 2)
	if b := readBody(t, j2, more[1]); b != testBody(1) {
		t.Fatalf("body after the cut: %q", b)
	}
	size2 := j2.activeSize()
	j2.Close()
	st, err := os.Stat(segmentFiles(t, crashed)[0])
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != size2 {
		t.Fatalf("closed segment %d bytes, records %d: zeros left behind", st.Size(), size2)
	}
	j3 := openTestJournal(t, crashed, Options{})
	if got, want := loadIDs(t, j3), slices.Sorted(slices.Values(append(ids, more...))); !slices.Equal(got, want) {
		t.Fatalf("after appending past the zeros: %v, want %v", got, want)
	}
}

// A crash between starting a new segment and trimming the previous one
// leaves zeros after the records of a segment that is not the last: that
// is the end of its records, not damage. Zeros followed by anything else
// still are damage (the rest of the segment is skipped and kept).
func TestJournalZeroTailInMiddleSegment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tail    []byte
		damaged bool
	}{
		{"zeros", make([]byte, 8<<10), false},
		{"zeros then data", append(make([]byte, 8<<10), 'x'), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openTestJournal(t, dir, Options{SegmentSize: 4096})
			ids := enqueueN(t, j, 30)
			j.Close()
			segs := segmentFiles(t, dir)
			if len(segs) < 3 {
				t.Fatalf("only %d segments", len(segs))
			}
			f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.tail)
			f.Close()
			j2, logs := openLogged(t, dir, Options{SegmentSize: 4096})
			got := loadIDs(t, j2)
			j2.mu.Lock()
			damaged := j2.segs[0].damaged
			j2.mu.Unlock()
			if damaged != tc.damaged {
				t.Fatalf("segment damaged %v, want %v (log: %s)", damaged, tc.damaged, logs.String())
			}
			if !tc.damaged && len(got) != len(ids) {
				t.Fatalf("after zeros in a middle segment: %d of %d messages", len(got), len(ids))
			}
		})
	}
}

// Package csvlog writes Exchange-style CSV log files: a folder of files
// named <Prefix>yyyymmdd-N.log, each starting with "#Software", "#Version",
// "#Log-type", "#Date" and "#Fields" lines, then one RFC 4180 record per
// line with CRLF line endings.
//
// A new file is started each UTC day and whenever the current one would
// grow past MaxFileSize (the -N suffix counts up). Files older than MaxAge,
// and the oldest files while the folder holds more than MaxDirectorySize,
// are deleted. Records are buffered and written out every FlushInterval
// and on Close; a Log is safe for concurrent use.
package csvlog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Software and Version are written in every file header.
const (
	Software = "transportd"
	Version  = "15.0.0.0"
)

// Exchange's defaults.
const (
	DefaultMaxFileSize      = 10 << 20
	DefaultMaxDirectorySize = 250 << 20
	DefaultMaxAge           = 30 * 24 * time.Hour
	DefaultFlushInterval    = time.Second
)

// Limits bound the log files.
type Limits struct {
	// MaxFileSize starts a new file when the current one would exceed it (0: default).
	MaxFileSize int64
	// MaxDirectorySize deletes the oldest files while the folder is larger (0: default).
	MaxDirectorySize int64
	// MaxAge deletes files last written longer ago (0: default).
	MaxAge time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	if l.MaxDirectorySize <= 0 {
		l.MaxDirectorySize = DefaultMaxDirectorySize
	}
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultMaxAge
	}
	return l
}

// Options configure a Log.
type Options struct {
	// Dir is the folder of the log files; it is created when missing.
	Dir string
	// Prefix starts every file name: "RECV", "SEND", "MSGTRK".
	Prefix string
	// LogType is the "#Log-type" header: "SMTP Receive Protocol Log".
	LogType string
	// Fields are the column names of the "#Fields" header.
	Fields []string
	Limits Limits
	// FlushInterval is how often buffered records are written (0: one second).
	FlushInterval time.Duration
	// Logger receives write errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Log is one folder of rotating CSV log files.
type Log struct {
	o Options

	mu      sync.Mutex
	limits  Limits
	f       *os.File
	w       *bufio.Writer
	day     string // yyyymmdd of the open file
	n       int    // -N of the open file
	size    int64  // bytes in the open file, buffered ones included
	closed  bool
	errOnce bool
	rec     bytes.Buffer
	csvw    *csv.Writer

	stop chan struct{}
	done chan struct{}
}

// Open prepares the log folder and starts the periodic flush. Files are
// created when the first record is written.
func Open(o Options) (*Log, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating log folder: %w", err)
	}
	l := &Log{o: o, limits: o.Limits.withDefaults(), stop: make(chan struct{}), done: make(chan struct{})}
	l.csvw = csv.NewWriter(&l.rec)
	l.csvw.UseCRLF = true
	go l.flusher()
	return l, nil
}

// Dir returns the log folder.
func (l *Log) Dir() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.o.Dir
}

// SetDir moves the log to another folder (after a configuration change):
// the open file is closed, the next record starts a file in dir. Files
// already written stay where they are.
func (l *Log) SetDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating log folder: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if filepath.Clean(dir) == filepath.Clean(l.o.Dir) {
		return nil
	}
	if l.f != nil {
		l.closeFile()
	}
	l.o.Dir, l.day, l.n, l.size = dir, "", 0, 0
	return nil
}

// SetLimits changes the size and age limits (after a configuration change).
func (l *Log) SetLimits(lim Limits) {
	l.mu.Lock()
	l.limits = lim.withDefaults()
	l.mu.Unlock()
}

func (l *Log) flusher() {
	defer close(l.done)
	t := time.NewTicker(l.o.FlushInterval)
	defer t.Stop()
	sweep := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
			if time.Since(sweep) > time.Hour {
				sweep = time.Now()
				l.mu.Lock()
				l.cleanup()
				l.mu.Unlock()
			}
		}
	}
}

// Write appends one record; fields are quoted as RFC 4180 requires.
func (l *Log) Write(fields ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.rec.Reset()
	if err := l.csvw.Write(fields); err == nil {
		l.csvw.Flush()
	}
	if err := l.writeLocked(l.rec.Bytes()); err != nil && !l.errOnce {
		// Said once: a full disk must not flood the daemon's log.
		l.errOnce = true
		l.o.Logger.Error("cannot write log file", "dir", l.o.Dir, "err", err)
	}
}

func (l *Log) writeLocked(rec []byte) error {
	now := l.o.Now().UTC()
	day := now.Format("20060102")
	if l.f == nil || day != l.day || (l.size+int64(len(rec)) > l.limits.MaxFileSize && l.size > 0) {
		if err := l.rotate(now, day); err != nil {
			return err
		}
	}
	n, err := l.w.Write(rec)
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing %s: %w", l.f.Name(), err)
	}
	return nil
}

// rotate closes the open file and opens the next one: the last file of
// day when it still has room, else a new -N.
func (l *Log) rotate(now time.Time, day string) error {
	if l.f != nil {
		l.closeFile()
	}
	n := 1
	if day == l.day {
		n = l.n + 1
	} else if last := l.lastIndex(day); last > 0 {
		n = last
		if fi, err := os.Stat(l.name(day, n)); err == nil && fi.Size() >= l.limits.MaxFileSize {
			n++
		}
	}
	path := l.name(day, n)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening log file: %w", err)
	}
	l.f, l.w, l.day, l.n, l.size = f, bufio.NewWriterSize(f, 64<<10), day, n, fi.Size()
	if l.size == 0 {
		hdr := fmt.Sprintf("#Software: %s\r\n#Version: %s\r\n#Log-type: %s\r\n#Date: %s\r\n#Fields: %s\r\n",
			Software, Version, l.o.LogType, now.Format("2006-01-02T15:04:05.000Z"), strings.Join(l.o.Fields, ","))
		k, _ := l.w.WriteString(hdr)
		l.size += int64(k)
	}
	l.cleanup()
	return nil
}

func (l *Log) name(day string, n int) string {
	return filepath.Join(l.o.Dir, fmt.Sprintf("%s%s-%d.log", l.o.Prefix, day, n))
}

// lastIndex is the highest -N of day's files in the folder, 0 when none.
func (l *Log) lastIndex(day string) int {
	ents, _ := os.ReadDir(l.o.Dir)
	best := 0
	for _, e := range ents {
		d, n, ok := l.parseName(e.Name())
		if ok && d == day && n > best {
			best = n
		}
	}
	return best
}

// parseName splits <Prefix>yyyymmdd-N.log.
func (l *Log) parseName(name string) (day string, n int, ok bool) {
	rest, ok := strings.CutPrefix(name, l.o.Prefix)
	if !ok {
		return "", 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".log")
	if !ok || len(rest) < 10 || rest[8] != '-' {
		return "", 0, false
	}
	n, err := strconv.Atoi(rest[9:])
	if err != nil {
		return "", 0, false
	}
	return rest[:8], n, true
}

// cleanup deletes files past MaxAge, then the oldest ones while the
// folder exceeds MaxDirectorySize. The open file is never deleted.
func (l *Log) cleanup() {
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	ents, err := os.ReadDir(l.o.Dir)
	if err != nil {
		return
	}
	var files []file
	var total int64
	open := ""
	if l.f != nil {
		open = l.f.Name()
	}
	cutoff := l.o.Now().Add(-l.limits.MaxAge)
	for _, e := range ents {
		if _, _, ok := l.parseName(e.Name()); !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(l.o.Dir, e.Name())
		if p != open && fi.ModTime().Before(cutoff) {
			l.remove(p, "older than the maximum age")
			continue
		}
		files = append(files, file{p, fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(files, func(i, j int) bool {
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.Before(files[j].mod)
		}
		return files[i].path < files[j].path
	})
	for _, f := range files {
		if total <= l.limits.MaxDirectorySize {
			break
		}
		if f.path == open {
			continue
		}
		l.remove(f.path, "the log folder exceeds its maximum size")
		total -= f.size
	}
}

func (l *Log) remove(path, why string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.o.Logger.Warn("cannot delete old log file", "file", path, "err", err)
		return
	}
	l.o.Logger.Debug("deleted old log file", "file", path, "reason", why)
}

func (l *Log) closeFile() {
	if err := l.w.Flush(); err != nil {
		l.o.Logger.Error("cannot write log file", "file", l.f.Name(), "err", err)
	}
	l.f.Close()
	l.f, l.w = nil, nil
}

// Flush writes the buffered records to the file.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", l.f.Name(), err)
	}
	return nil
}

// Close flushes and closes the log; later records are dropped.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	var err error
	if l.w != nil {
		if ferr := l.w.Flush(); ferr != nil {
			err = fmt.Errorf("writing %s: %w", l.f.Name(), ferr)
		}
		l.f.Close()
		l.f, l.w = nil, nil
	}
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return err
}

// Files lists the log files of dir with the given prefix, oldest first (by name).
func Files(dir, prefix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading log folder: %w", err)
	}
	l := &Log{o: Options{Prefix: prefix}}
	type f struct {
		day  string
		n    int
		path string
	}
	var fs []f
	for _, e := range ents {
		if d, n, ok := l.parseName(e.Name()); ok {
			fs = append(fs, f{d, n, filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].day != fs[j].day {
			return fs[i].day < fs[j].day
		}
		return fs[i].n < fs[j].n
	})
	out := make([]string, len(fs))
	for i, x := range fs {
		out[i] = x.path
	}
	return out, nil
}

// ReadFile parses one log file: the "#Fields" header names the columns
// of every record. Comment lines are skipped; a header repeated later
// (after an append by another version) replaces the columns.
func ReadFile(path string, each func(fields []string, rec []string) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	// The csv reader skips comment lines, so read the header first.
	fields, err := readFields(path)
	if errors.Is(err, errNotWrittenYet) {
		return nil // a file just opened: the writer has not flushed its header yet
	}
	if err != nil {
		return err
	}
	for {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if !each(fields, rec) {
			return nil
		}
	}
}

// errNotWrittenYet is readFields on an empty file.
var errNotWrittenYet = errors.New("log file is empty")

func readFields(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 10 && sc.Scan(); i++ {
		if v, ok := strings.CutPrefix(strings.TrimRight(sc.Text(), "\r"), "#Fields: "); ok {
			return strings.Split(v, ","), nil
		}
	}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		return nil, errNotWrittenYet
	}
	return nil, fmt.Errorf("%s has no #Fields header", path)
}

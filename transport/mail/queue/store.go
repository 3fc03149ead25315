// Package queue is the transport pipeline's durable queue: the store that
// holds every accepted message until it is delivered or bounced, and the
// manager that routes, delivers, retries and expires messages.
//
// On disk, under the queue folder:
//
//	tmp/<id>         a message being received (removed at start: it never got 250)
//	msg/<id>         a committed message: a header line, the JSON envelope, then the message
//	state/<id>.json  delivery progress of a message that was not finished at once
//
// A message is written to tmp/, fsynced, and renamed into msg/; the folder
// fsync that makes the rename durable is shared by every message committed
// at the same time (group commit), so concurrent sessions do not wait for
// each other's fsyncs one by one. Only then does the client get 250.
package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/durable"
)

// Recipient is one envelope recipient.
type Recipient struct {
	// Address is the recipient address, domain lower-cased.
	Address string `json:"address"`
	// Local is true when the address belonged to a mailbox when received.
	Local bool `json:"local,omitempty"`
	// Notify is the RFC 3461 NOTIFY parameter ("NEVER", "FAILURE,DELAY"), empty = default.
	Notify string `json:"notify,omitempty"`
}

// Envelope is what the SMTP session (or the pickup folder) knows about a message.
type Envelope struct {
	ID         string      `json:"id"`
	From       string      `json:"from"`
	Recipients []Recipient `json:"recipients"`
	Connector  string      `json:"connector,omitempty"`
	Source     string      `json:"source,omitempty"` // SMTP, PICKUP, DSN
	RemoteAddr string      `json:"remote_addr,omitempty"`
	HeloName   string      `json:"helo,omitempty"`
	AuthUser   string      `json:"auth_user,omitempty"`
	TLS        bool        `json:"tls,omitempty"`
	ReceivedAt time.Time   `json:"received_at"`
	Size       int64       `json:"size"`
	MessageID  string      `json:"message_id,omitempty"`
	Subject    string      `json:"subject,omitempty"`
	// MaxMessageLen limits the body while it is received (0 = none); not stored.
	MaxMessageLen int64 `json:"-"`
}

// Store keeps messages durably. Enqueue must not return before the message
// is on stable storage. It is an interface so that a replicated store can
// stand in for the local disk later.
type Store interface {
	Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error)
	// Load returns every committed message with its saved state (recovery).
	Load() ([]Stored, error)
	// Open reads the message (without the envelope).
	Open(id string) (io.ReadCloser, error)
	// SaveState records delivery progress durably.
	SaveState(id string, st *State) error
	// Remove deletes a finished message.
	Remove(id string) error
}

// Stored is a committed message as recovery finds it.
type Stored struct {
	Envelope Envelope
	State    *State // nil when never saved
}

// ErrTooLarge refuses a message over the connector's MaxMessageSize.
var ErrTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message size exceeds the fixed maximum message size (MaxMessageSize)"}

const fileMagic = "TDQ1 "

// Disk is the Store on the local file system.
type Disk struct {
	dir string
	seq atomic.Uint64

	mu      sync.Mutex
	pending []chan error
	kick    chan struct{}
	closed  chan struct{}
	offsets sync.Map // id -> int64 body offset
}

// OpenDisk opens (creating if needed) the queue under dir and removes what a
// crash left half-written.
func OpenDisk(dir string) (*Disk, error) {
	for _, sub := range []string{"tmp", "msg", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating queue folder: %w", err)
		}
	}
	// Messages in tmp/ never got 250.
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("reading queue: %w", err)
	}
	for _, e := range entries {
		os.Remove(filepath.Join(dir, "tmp", e.Name()))
	}
	d := &Disk{dir: dir, kick: make(chan struct{}, 1), closed: make(chan struct{})}
	go d.committer()
	return d, nil
}

// Close stops the committer.
func (d *Disk) Close() error {
	select {
	case <-d.closed:
	default:
		close(d.closed)
	}
	return nil
}

// Dir returns the queue folder.
func (d *Disk) Dir() string { return d.dir }

// NewID returns a queue id: time-ordered, unique, 25 upper-case hex digits.
func (d *Disk) NewID() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%013X%04X%s", time.Now().UnixMilli(), d.seq.Add(1)&0xFFFF, strings.ToUpper(hex.EncodeToString(b[:])))
}

type limitedReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.max > 0 && l.n > l.max {
		return n, ErrTooLarge
	}
	return n, err
}

// Enqueue writes the message, fsyncs it, commits it with the next group
// commit and returns its queue id.
func (d *Disk) Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error) {
	if env.ID == "" {
		env.ID = d.NewID()
	}
	id := env.ID
	tmp := filepath.Join(d.dir, "tmp", id)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating message file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Reserve room for the envelope: it is written after the body, when
	// the size is known, at the start of the file.
	probe := env
	probe.Size = 1 << 62
	js, err := json.Marshal(probe)
	if err != nil {
		return "", fmt.Errorf("encoding envelope: %w", err)
	}
	reserve := (len(js) + 64 + 4095) / 4096 * 4096
	if _, err := f.Seek(int64(reserve), io.SeekStart); err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 64*1024)
	n, err := io.Copy(w, &limitedReader{r: body, max: env.MaxMessageLen})
	if err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("writing message: %w", err)
	}
	env.Size = n
	hdr, err := encodeHeader(env, reserve)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return "", fmt.Errorf("writing envelope: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("syncing message: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("closing message: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "msg", id)); err != nil {
		return "", fmt.Errorf("committing message: %w", err)
	}
	ok = true
	if err := d.groupSync(); err != nil {
		return "", err
	}
	d.offsets.Store(id, int64(reserve))
	return id, nil
}

// encodeHeader lays out "TDQ1 <json length> <body offset>\n<json>\n"
// padded with spaces to size bytes (the body starts at size).
func encodeHeader(env Envelope, size int) ([]byte, error) {
	js, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encoding envelope: %w", err)
	}
	line := fileMagic + strconv.Itoa(len(js)) + " " + strconv.Itoa(size) + "\n"
	if len(line)+len(js)+1 > size {
		return nil, fmt.Errorf("envelope too large (%d recipients)", len(env.Recipients))
	}
	out := make([]byte, size)
	for i := range out {
		out[i] = ' '
	}
	copy(out, line)
	copy(out[len(line):], js)
	out[len(line)+len(js)] = '\n'
	out[size-1] = '\n'
	return out, nil
}

// groupSync makes the renames into msg/ durable with one folder fsync for
// every message that reached this point while the previous fsync ran.
func (d *Disk) groupSync() error {
	done := make(chan error, 1)
	d.mu.Lock()
	d.pending = append(d.pending, done)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return <-done
}

func (d *Disk) committer() {
	for {
		select {
		case <-d.closed:
			d.mu.Lock()
			for _, c := range d.pending {
				c <- errors.New("queue closed")
			}
			d.pending = nil
			d.mu.Unlock()
			return
		case <-d.kick:
		}
		d.mu.Lock()
		batch := d.pending
		d.pending = nil
		d.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		err := durable.SyncDir(filepath.Join(d.dir, "msg"))
		for _, c := range batch {
			c <- err
		}
	}
}

// readHeader reads the envelope of a stored message file.
func readHeader(r *bufio.Reader) (Envelope, int64, error) {
	var env Envelope
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, fileMagic) {
		return env, 0, errors.New("not a queue file")
	}
	var n, off int
	if _, err := fmt.Sscanf(line[len(fileMagic):], "%d %d", &n, &off); err != nil || n <= 0 || n > 1<<24 || off < n {
		return env, 0, errors.New("bad envelope length")
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return env, 0, fmt.Errorf("reading envelope: %w", err)
	}
	if err := json.Unmarshal(js, &env); err != nil {
		return env, 0, fmt.Errorf("decoding envelope: %w", err)
	}
	return env, int64(off), nil
}

// Load returns every committed message with its state, oldest first.
func (d *Disk) Load() ([]Stored, error) {
	entries, err := os.ReadDir(filepath.Join(d.dir, "msg"))
	if err != nil {
		return nil, fmt.Errorf("reading queue: %w", err)
	}
	var out []Stored
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := os.Open(filepath.Join(d.dir, "msg", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading queue: %w", err)
		}
		env, off, err := readHeader(bufio.NewReader(f))
		f.Close()
		if err != nil {
			// Keep it aside for the admin rather than lose or loop on it.
			os.Rename(filepath.Join(d.dir, "msg", e.Name()), filepath.Join(d.dir, "msg", "."+e.Name()+".damaged"))
			continue
		}
		d.offsets.Store(env.ID, off)
		s := Stored{Envelope: env}
		if data, err := os.ReadFile(filepath.Join(d.dir, "state", env.ID+".json")); err == nil {
			var st State
			if json.Unmarshal(data, &st) == nil {
				s.State = &st
			}
		}
		out = append(out, s)
	}
	return out, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionReadCloser) Close() error { return s.f.Close() }

// Open returns a reader over the stored message body.
func (d *Disk) Open(id string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(d.dir, "msg", filepath.Base(id)))
	if err != nil {
		return nil, fmt.Errorf("opening message %s: %w", id, err)
	}
	var off int64
	if v, ok := d.offsets.Load(id); ok {
		off = v.(int64)
	} else {
		_, o, err := readHeader(bufio.NewReader(f))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("message %s: %w", id, err)
		}
		off = o
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return sectionReadCloser{io.NewSectionReader(f, off, st.Size()-off), f}, nil
}

// SaveState writes the delivery progress of id durably.
func (d *Disk) SaveState(id string, st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return durable.WriteFile(filepath.Join(d.dir, "state", filepath.Base(id)+".json"), data, 0o600)
}

// Remove deletes a finished message. The folder is not fsynced: after a
// power loss right here the message may be delivered once more, which is
// the lesser evil (Postfix makes the same trade).
func (d *Disk) Remove(id string) error {
	id = filepath.Base(id)
	err := os.Remove(filepath.Join(d.dir, "msg", id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing message %s: %w", id, err)
	}
	os.Remove(filepath.Join(d.dir, "state", id+".json"))
	d.offsets.Delete(id)
	return nil
}

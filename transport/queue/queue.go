// Package queue is the durable message store behind every receive
// connector: a message is on disk, fsynced, before the client sees 250.
//
// Layout under the queue folder:
//
//	msg/<id>.eml   the message as received (CRLF text, our Received header first)
//	env/<id>.json  the envelope; its presence commits the message
//
// The body is written and fsynced first, then the envelope is written to a
// temporary name, fsynced and renamed into env/, and the folders are
// fsynced. A crash before the rename leaves a body without an envelope,
// which Open removes: that message never got 250.
package queue

import (
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
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/durable"
)

// Recipient is one envelope recipient.
type Recipient struct {
	// Address is the recipient address, domain lower-cased.
	Address string `json:"address"`
	// Local is true when the address belongs to a mailbox here.
	Local bool `json:"local"`
}

// Envelope is what the SMTP session knows about a message.
type Envelope struct {
	ID            string      `json:"id"`
	From          string      `json:"from"`
	Recipients    []Recipient `json:"recipients"`
	Connector     string      `json:"connector"`
	RemoteAddr    string      `json:"remote_addr"`
	HeloName      string      `json:"helo"`
	AuthUser      string      `json:"auth_user,omitempty"`
	TLS           bool        `json:"tls"`
	ReceivedAt    time.Time   `json:"received_at"`
	Size          int64       `json:"size"`
	MaxMessageLen int64       `json:"-"`
}

// Store accepts messages durably. Implementations must not return before
// the message is on stable storage.
type Store interface {
	Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error)
}

// Disk is a Store on the local file system.
type Disk struct {
	dir string
	seq atomic.Uint64
}

// ErrTooLarge refuses a message over the connector's MaxMessageSize.
var ErrTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message size exceeds the fixed maximum message size (MaxMessageSize)"}

// OpenDisk opens (creating if needed) the queue under dir and removes
// half-written messages left by a crash.
func OpenDisk(dir string) (*Disk, error) {
	for _, sub := range []string{"msg", "env"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating queue folder: %w", err)
		}
	}
	d := &Disk{dir: dir}
	if err := d.recover(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Disk) recover() error {
	bodies, err := os.ReadDir(filepath.Join(d.dir, "msg"))
	if err != nil {
		return fmt.Errorf("reading queue: %w", err)
	}
	for _, e := range bodies {
		id := strings.TrimSuffix(e.Name(), ".eml")
		if _, err := os.Stat(filepath.Join(d.dir, "env", id+".json")); errors.Is(err, fs.ErrNotExist) {
			os.Remove(filepath.Join(d.dir, "msg", e.Name()))
		}
	}
	envs, err := os.ReadDir(filepath.Join(d.dir, "env"))
	if err != nil {
		return fmt.Errorf("reading queue: %w", err)
	}
	for _, e := range envs {
		if strings.HasPrefix(e.Name(), ".") {
			os.Remove(filepath.Join(d.dir, "env", e.Name()))
		}
	}
	return nil
}

// Dir returns the queue folder.
func (d *Disk) Dir() string { return d.dir }

func (d *Disk) newID() string {
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

// Enqueue writes body and env durably and returns the queue id.
func (d *Disk) Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error) {
	id := d.newID()
	env.ID = id
	msgPath := filepath.Join(d.dir, "msg", id+".eml")
	f, err := os.OpenFile(msgPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating message file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(msgPath)
		}
	}()
	lr := &limitedReader{r: body, max: env.MaxMessageLen}
	n, err := io.Copy(f, lr)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	env.Size = n
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("syncing message: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("closing message: %w", err)
	}
	data, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("encoding envelope: %w", err)
	}
	// The body's directory entry first, then the envelope that commits it.
	if err := durable.SyncDir(filepath.Join(d.dir, "msg")); err != nil {
		return "", err
	}
	if err := durable.WriteFile(filepath.Join(d.dir, "env", id+".json"), data, 0o600); err != nil {
		return "", fmt.Errorf("committing envelope: %w", err)
	}
	ok = true
	return id, nil
}

// List returns the envelopes of the committed messages, oldest first.
func (d *Disk) List() ([]Envelope, error) {
	entries, err := os.ReadDir(filepath.Join(d.dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("reading queue: %w", err)
	}
	var out []Envelope
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d.dir, "env", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading envelope: %w", err)
		}
		var env Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("envelope %s: %w", e.Name(), err)
		}
		out = append(out, env)
	}
	return out, nil
}

// Body opens the stored message of id.
func (d *Disk) Body(id string) (*os.File, error) {
	return os.Open(filepath.Join(d.dir, "msg", filepath.Base(id)+".eml"))
}

// Package submit is the local submission channel behind `transportd
// sendmail`: a Unix socket that any local user may write one message to,
// and nothing else. It is the counterpart of Postfix's postdrop and
// pickup: the daemon learns who submitted from the socket's peer
// credentials (SO_PEERCRED), never from what the client says, so a local
// user cannot pass for another one, and the client needs no right on the
// queue, the configuration or the secrets.
//
// The protocol is small enough that a hand-written one is clearer than an
// SMTP dialogue over the socket (which would need AUTH to carry the user):
// the client writes one JSON line (Request), then the message as raw
// bytes, then closes its writing side; the daemon answers one JSON line
// (Reply).
package submit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// SocketName is the socket's file name when it lives in the data folder.
const SocketName = "submit.sock"

// Request is the client's first line: the envelope as sendmail's options
// give it.
type Request struct {
	// From is -f: the envelope sender; nil means the user's own address.
	// A pointer, so that -f '<>' (the null reverse-path) is "".
	From *string `json:"from,omitempty"`
	// FullName is -F: the display name for a From: field the message lacks.
	FullName string `json:"fullName,omitempty"`
	// Recipients are the addresses given as arguments.
	Recipients []string `json:"recipients,omitempty"`
	// Extract is -t: the recipients also come from To:, Cc: and Bcc:.
	Extract bool `json:"extract,omitempty"`
}

// Reply is the daemon's answer.
type Reply struct {
	// ID is the queue id, when the message was queued.
	ID string `json:"id,omitempty"`
	// Error says why it was not; empty on success.
	Error string `json:"error,omitempty"`
	// Temporary is true when trying again later may work (EX_TEMPFAIL).
	Temporary bool `json:"temporary,omitempty"`
	// Status is the sendmail exit code the client should end with.
	Status int `json:"status"`
}

// Exit codes of sendmail (sysexits.h), which cron, PHP and git test.
const (
	ExOK       = 0
	ExUsage    = 64 // command line usage error
	ExDataErr  = 65 // the message is malformed
	ExNoUser   = 67 // an address is not valid
	ExSoftware = 70 // internal error
	ExIOErr    = 74
	ExTempFail = 75 // try again later: the daemon is down or busy
	ExNoPerm   = 77
)

// User is the local account a submission came from.
type User struct {
	UID  int
	Name string // the login name, or the uid in decimal when it has none
}

// Submission is what the daemon is asked to queue.
type Submission struct {
	User    User
	Request Request
	Message []byte // as written, at most MaxSize bytes
}

// Error is a refusal with the exit code it maps to.
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Server serves the socket.
type Server struct {
	// Submit queues one message and returns its queue id; an *Error
	// carries the exit code, other errors are temporary.
	Submit func(ctx context.Context, s Submission) (string, error)
	// MaxSize bounds the message (the largest MaxMessageSize); 0 = 64 MiB.
	MaxSize int64
	// MaxConcurrent bounds the submissions read at once (0: 16), so that
	// a local user opening many connections cannot make the daemon hold
	// many messages in memory: the others wait in the listen backlog.
	MaxConcurrent int
	Log           *slog.Logger

	ln net.Listener
	wg sync.WaitGroup
}

// Listen creates the socket at path, replacing a stale one, with mode
// 0666: every local user may submit. The folder holding it must be
// reachable by them (the daemon's data folder is not: see the service).
func (s *Server) Listen(path string) error {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("submission socket %s is in use: is another transportd running?", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("submission socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return fmt.Errorf("submission socket %s: %w", path, err)
	}
	s.ln = ln
	return nil
}

// Serve accepts submissions until ctx is done, then waits for the ones
// under way.
func (s *Server) Serve(ctx context.Context) error {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer s.wg.Wait()
	n := s.MaxConcurrent
	if n <= 0 {
		n = 16
	}
	slots := make(chan struct{}, n)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := s.ln.Accept()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("submission socket: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			s.serveConn(ctx, c)
		}()
	}
}

// peer returns the connecting process's user from SO_PEERCRED.
func peer(c net.Conn) (User, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return User{}, errors.New("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return User{}, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return User{}, err
	}
	if cerr != nil {
		return User{}, cerr
	}
	u := User{UID: int(cred.Uid), Name: strconv.Itoa(int(cred.Uid))}
	if pw, err := user.LookupId(u.Name); err == nil {
		u.Name = pw.Username
	}
	return u, nil
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	// The request line comes at once from our own client; a connection
	// that sends nothing gives its slot back soon.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	reply := func(r Reply) { json.NewEncoder(c).Encode(&r) }
	u, err := peer(c)
	if err != nil {
		reply(Reply{Error: "cannot tell who is submitting: " + err.Error(), Status: ExNoPerm})
		return
	}
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(Reply{Error: "malformed request: " + err.Error(), Status: ExSoftware})
		return
	}
	c.SetDeadline(time.Now().Add(10 * time.Minute)) // the message, from a pipe that may be slow
	max := s.MaxSize
	if max <= 0 {
		max = 64 << 20
	}
	msg, err := io.ReadAll(io.LimitReader(br, max+1))
	if err != nil {
		reply(Reply{Error: "reading the message: " + err.Error(), Temporary: true, Status: ExTempFail})
		return
	}
	if int64(len(msg)) > max {
		reply(Reply{Error: fmt.Sprintf("the message is bigger than the limit of %d bytes (MaxMessageSize)", max), Status: ExDataErr})
		return
	}
	id, err := s.Submit(ctx, Submission{User: u, Request: req, Message: msg})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			reply(Reply{Error: e.Error(), Status: e.Status})
			return
		}
		s.Log.Warn("local submission failed", "user", u.Name, "err", err)
		reply(Reply{Error: err.Error(), Temporary: true, Status: ExTempFail})
		return
	}
	s.Log.Debug("local submission queued", "user", u.Name, "id", id)
	reply(Reply{ID: id})
}

// Send submits one message to the daemon listening at path. A daemon that
// is not there is an error wrapping ErrNotRunning.
func Send(ctx context.Context, path string, req Request, msg io.Reader) (Reply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	line, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	w := bufio.NewWriterSize(c, 64*1024)
	w.Write(append(line, '\n'))
	if _, err := io.Copy(w, msg); err != nil {
		return Reply{}, fmt.Errorf("sending the message: %w", err)
	}
	if err := w.Flush(); err != nil {
		return Reply{}, fmt.Errorf("sending the message: %w", err)
	}
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		return Reply{}, fmt.Errorf("sending the message: %w", err)
	}
	var r Reply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return Reply{}, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return r, nil
}

// ErrNotRunning means no daemon listens on the submission socket.
var ErrNotRunning = errors.New("transportd is not running (no submission socket)")

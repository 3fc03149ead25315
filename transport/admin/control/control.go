// Package control is the local management channel between the running
// daemon and the shell: a Unix socket in the data folder with mode 0600,
// speaking one JSON request and one JSON response per line. Only the
// daemon's owner (and root) may connect: the socket's permissions say so
// and every connection's peer credentials (SO_PEERCRED) are checked. It is
// never a network port.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// SocketName is the socket's file name in the data folder.
const SocketName = "control.sock"

// Request is one call.
type Request struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is the answer to one call.
type Response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Handler serves one call and returns a JSON-encodable result.
type Handler func(ctx context.Context, op string, args json.RawMessage) (any, error)

// Server serves the control socket.
type Server struct {
	ln      net.Listener
	handler Handler
	log     *slog.Logger
	wg      sync.WaitGroup
}

// Listen creates the socket at path (replacing a stale one) with mode 0600.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use: is another transportd running on this data folder?", path)
	}
	os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &Server{ln: ln, handler: h, log: log}, nil
}

// Serve accepts connections until ctx is done.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.wg.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// allowed checks the peer's uid: the daemon's own user or root.
func allowed(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil || cred == nil {
		return false
	}
	return cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	if !allowed(c) {
		s.log.Warn("control socket: connection from another user refused")
		return
	}
	r := bufio.NewReaderSize(c, 64*1024)
	enc := json.NewEncoder(c)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req Request
		var resp Response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Error = "malformed request: " + err.Error()
		} else if res, err := s.call(ctx, req); err != nil {
			resp.Error = err.Error()
		} else if resp.Result, err = json.Marshal(res); err != nil {
			resp.Error = "encoding result: " + err.Error()
		}
		if err := enc.Encode(&resp); err != nil {
			return
		}
	}
}

func (s *Server) call(ctx context.Context, req Request) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("control call crashed", "op", req.Op, "panic", fmt.Sprint(p))
			err = fmt.Errorf("internal error in %s", req.Op)
		}
	}()
	return s.handler(ctx, req.Op, req.Args)
}

// ErrNotRunning means no daemon listens on the socket.
var ErrNotRunning = errors.New("transportd is not running (no control socket)")

// Call sends one request to the daemon at path and decodes the result into out.
func Call(ctx context.Context, path, op string, args, out any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w at %s", ErrNotRunning, path)
		}
		return fmt.Errorf("connecting to transportd at %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req := Request{Op: op}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return err
		}
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("sending to transportd: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&resp); err != nil {
		return fmt.Errorf("reading from transportd: %w", err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}

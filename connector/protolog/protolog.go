// Package protolog writes SMTP protocol logs in Exchange's format: one CSV
// record per line sent or received, per connection opened or closed, and
// per notable event (TLS negotiated, authentication result), in the files
// RECVyyyymmdd-N.log (receive connectors) and SENDyyyymmdd-N.log (send
// connectors):
//
//	#Software: transportd
//	#Version: 15.0.0.0
//	#Log-type: SMTP Receive Protocol Log
//	#Date: 2026-05-04T09:25:35.815Z
//	#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
//	2026-05-04T09:25:35.815Z,Default Frontend MAIL,08DE8A1C2B3D4E5F,0,127.0.0.1:25,127.0.0.1:50122,+,,
//
// Events are "+" connect, "-" disconnect, ">" sent, "<" received and "*"
// information. The sequence number counts from 0 in each session; the
// session id is 16 hexadecimal digits, unique on this server.
//
// Credentials are never written: the initial response of AUTH is replaced
// by "****", and so is every line the client sends in answer to a 334
// challenge. Message data (between DATA's 354 and the final dot) is not
// logged either.
package protolog

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportd/transportd/connector/protolog/csvlog"
)

// Kind is the direction a log covers.
type Kind int

// Directions.
const (
	Receive Kind = iota
	Send
)

// Fields are the columns of a protocol log, in order.
var Fields = []string{"date-time", "connector-id", "session-id", "sequence-number", "local-endpoint", "remote-endpoint", "event", "data", "context"}

// Events.
const (
	EventConnect    = "+"
	EventDisconnect = "-"
	EventSend       = ">"
	EventReceive    = "<"
	EventInfo       = "*"
)

// Masked replaces credentials in the log.
const Masked = "****"

// Levels of ProtocolLoggingLevel.
const (
	LevelNone    = "None"
	LevelVerbose = "Verbose"
)

// Options configure a Log.
type Options struct {
	// Dir is the folder: <data>/logs/ProtocolLog/SmtpReceive or .../SmtpSend.
	Dir    string
	Limits csvlog.Limits
	// FlushInterval is how often records reach the file (0: one second).
	FlushInterval time.Duration
	Logger        *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Log is the protocol log of one direction.
type Log struct {
	kind Kind
	out  *csvlog.Log
	now  func() time.Time
	next atomic.Uint64
}

// Open opens the protocol log of kind under o.Dir.
func Open(kind Kind, o Options) (*Log, error) {
	prefix, typ := "RECV", "SMTP Receive Protocol Log"
	if kind == Send {
		prefix, typ = "SEND", "SMTP Send Protocol Log"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	out, err := csvlog.Open(csvlog.Options{Dir: o.Dir, Prefix: prefix, LogType: typ, Fields: Fields,
		Limits: o.Limits, FlushInterval: o.FlushInterval, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("protocol log: %w", err)
	}
	l := &Log{kind: kind, out: out, now: o.Now}
	// Session ids grow from the start time, as Exchange's do, so they
	// stay unique across restarts.
	l.next.Store(uint64(o.Now().UnixNano()))
	return l, nil
}

// Dir returns the log folder.
func (l *Log) Dir() string { return l.out.Dir() }

// SetDir moves the log to another folder; the next record starts a file there.
func (l *Log) SetDir(dir string) error { return l.out.SetDir(dir) }

// SetLimits changes the size and age limits.
func (l *Log) SetLimits(lim csvlog.Limits) { l.out.SetLimits(lim) }

// Flush writes buffered records to the file.
func (l *Log) Flush() error { return l.out.Flush() }

// Close flushes and closes the log.
func (l *Log) Close() error { return l.out.Close() }

// Session starts logging one connection. A nil Log returns a nil Session,
// whose methods do nothing.
func (l *Log) Session(connector, local, remote string) *Session {
	if l == nil {
		return nil
	}
	return &Session{log: l, connector: connector, local: local, remote: remote,
		id: fmt.Sprintf("%016X", l.next.Add(1))}
}

// Session logs one SMTP connection. It is safe for concurrent use; all
// methods of a nil Session do nothing.
type Session struct {
	log       *Log
	connector string
	id        string
	local     string
	remote    string

	mu       sync.Mutex
	seq      int
	ended    bool
	authCont bool // the last reply was a 334 challenge: the next line is a credential
	dataMode bool // between 354 and the final dot: message data, not logged
	dataSent bool // DATA was the last command
}

// ID returns the session id (16 hexadecimal digits); "" for nil.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	return s.id
}

// SetRemote sets the remote endpoint (when known only after connecting).
func (s *Session) SetRemote(local, remote string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.local, s.remote = local, remote
	s.mu.Unlock()
}

func (s *Session) write(event, data, context string) {
	if s.ended {
		return
	}
	ts := s.log.now().UTC().Format("2006-01-02T15:04:05.000Z")
	s.log.out.Write(ts, s.connector, s.id, fmt.Sprint(s.seq), s.local, s.remote, event, data, context)
	s.seq++
}

// Connect logs the start of the session.
func (s *Session) Connect() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(EventConnect, "", "")
}

// Disconnect logs the end of the session, once; later calls do nothing.
func (s *Session) Disconnect() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(EventDisconnect, "", "")
	s.ended = true
}

// Info logs an information event.
func (s *Session) Info(data, context string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(EventInfo, data, context)
}

// Command logs a command line the client sent (event "<" on the receive
// side, ">" on the send side), with credentials masked.
func (s *Session) Command(line string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.clientEvent()
	line = strings.TrimRight(line, "\r\n")
	if s.authCont {
		s.authCont = false
		s.write(ev, Masked, "")
		return
	}
	masked := MaskCommand(line)
	s.dataSent = strings.EqualFold(strings.TrimSpace(line), "DATA")
	s.write(ev, masked, "")
}

// Credential logs a line the client sent in answer to a 334 challenge
// (RFC 4954) as Masked. A server that knows the line is a credential says
// so here instead of relying on Command to have seen the challenge.
func (s *Session) Credential() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.clientEvent()
	s.authCont = false
	s.write(ev, Masked, "")
}

// clientEvent is the event of a line the client sent: "<" on the receive
// side, ">" on the send side.
func (s *Session) clientEvent() string {
	if s.log.kind == Send {
		return EventSend
	}
	return EventReceive
}

// Reply logs one reply line of the server (">" on the receive side, "<"
// on the send side). A 334 line makes the next command line a credential.
func (s *Session) Reply(line string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := EventSend
	if s.log.kind == Send {
		ev = EventReceive
	}
	line = strings.TrimRight(line, "\r\n")
	s.authCont = strings.HasPrefix(line, "334 ")
	// With PIPELINING (RFC 2920) the replies to MAIL and RCPT come between
	// DATA and its 354: only the 354 or the next command ends the wait.
	if s.dataSent && strings.HasPrefix(line, "354") {
		s.dataMode, s.dataSent = true, false
	}
	s.write(ev, line, "")
}

// MaskCommand hides the credential of an AUTH command: "AUTH PLAIN
// AGFsaWNl..." becomes "AUTH PLAIN ****". Other lines are returned as is.
func MaskCommand(line string) string {
	f := strings.Fields(line)
	if len(f) >= 1 && strings.EqualFold(f[0], "AUTH") {
		if len(f) >= 3 {
			return f[0] + " " + f[1] + " " + Masked
		}
		return strings.Join(f, " ")
	}
	return line
}

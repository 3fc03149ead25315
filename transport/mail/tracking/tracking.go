// Package tracking writes and searches the message tracking log, Exchange's
// record of every message's life: MSGTRKyyyymmdd-N.log files under
// <data>/logs/MessageTracking, one CSV record per event (RECEIVE, SEND,
// DELIVER, DEFER, FAIL, DSN, POISONMESSAGE, ...) with the fields of
// Exchange's log, so that Get-MessageTrackingLog habits work here
// (transportd trackinglog get).
package tracking

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/connector/protolog/csvlog"
	"github.com/transportd/transportd/transport/mail/queue"
)

// Fields are the columns of the message tracking log, in order.
var Fields = []string{"date-time", "client-ip", "client-hostname", "server-ip", "server-hostname", "source-context",
	"connector-id", "source", "event-id", "internal-message-id", "message-id", "recipient-address", "recipient-status",
	"total-bytes", "recipient-count", "related-recipient-address", "reference", "message-subject", "sender-address",
	"return-path", "message-info", "directionality"}

// RecipientAccepted is the reply the receive connector sends on the wire
// to every recipient it accepts (connector.RecipientAcceptedReply); a
// RECEIVE event records it as each recipient's status.
const RecipientAccepted = connector.RecipientAcceptedReply

// Event ids (Exchange's names).
const (
	EventReceive = "RECEIVE"
	EventSubmit  = "SUBMIT"
	EventSend    = "SEND"
	EventDeliver = "DELIVER"
	EventDefer   = "DEFER"
	EventFail    = "FAIL"
	EventDSN     = "DSN"
	EventPoison  = "POISONMESSAGE"
	EventBadmail = "BADMAIL"
)

// Sources (Exchange's names).
const (
	SourceSMTP        = "SMTP"
	SourceQueue       = "QUEUE"
	SourceRouting     = "ROUTING"
	SourcePickup      = "PICKUP"
	SourceDSN         = "DSN"
	SourceStoreDriver = "STOREDRIVER"
)

// TimeFormat is the date-time column's format (UTC).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Event is one record of the message tracking log.
type Event struct {
	Time                    time.Time
	ClientIP                string
	ClientHostname          string
	ServerIP                string
	ServerHostname          string
	SourceContext           string
	ConnectorID             string
	Source                  string
	EventID                 string
	InternalMessageID       string
	MessageID               string
	Recipients              []string
	RecipientStatus         []string
	TotalBytes              int64
	RecipientCount          int
	RelatedRecipientAddress string
	Reference               string
	MessageSubject          string
	Sender                  string
	ReturnPath              string
	MessageInfo             string
	Directionality          string
}

// record returns the CSV fields of ev in the order of Fields.
func (ev Event) record() []string {
	return []string{ev.Time.UTC().Format(TimeFormat), ev.ClientIP, ev.ClientHostname, ev.ServerIP, ev.ServerHostname,
		ev.SourceContext, ev.ConnectorID, ev.Source, ev.EventID, ev.InternalMessageID, ev.MessageID,
		strings.Join(ev.Recipients, ";"), strings.Join(ev.RecipientStatus, ";"), strconv.FormatInt(ev.TotalBytes, 10),
		strconv.Itoa(ev.RecipientCount), ev.RelatedRecipientAddress, ev.Reference, ev.MessageSubject, ev.Sender,
		ev.ReturnPath, ev.MessageInfo, ev.Directionality}
}

// Options configure a Log.
type Options struct {
	// Dir is the folder: <data>/logs/MessageTracking.
	Dir    string
	Limits csvlog.Limits
	// FlushInterval is how often records reach the file (0: one second).
	FlushInterval time.Duration
	// ServerHostname is this server's name in every record.
	ServerHostname string
	// SubjectLogging writes message subjects (MessageTrackingLogSubjectLoggingEnabled).
	SubjectLogging bool
	Logger         *slog.Logger
	Now            func() time.Time
}

// Log is the message tracking log.
type Log struct {
	out     *csvlog.Log
	host    atomic.Pointer[string]
	subject atomic.Bool
}

// Open opens the message tracking log under o.Dir.
func Open(o Options) (*Log, error) {
	out, err := csvlog.Open(csvlog.Options{Dir: o.Dir, Prefix: "MSGTRK", LogType: "Message Tracking Log", Fields: Fields,
		Limits: o.Limits, FlushInterval: o.FlushInterval, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("message tracking log: %w", err)
	}
	l := &Log{out: out}
	l.SetServer(o.ServerHostname, o.SubjectLogging)
	return l, nil
}

// SetServer changes the server name written in every record and whether
// subjects are written, for a changed configuration.
func (l *Log) SetServer(hostname string, subjectLogging bool) {
	l.host.Store(&hostname)
	l.subject.Store(subjectLogging)
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

// Write appends ev; a zero Time is now, an empty ServerHostname this server.
func (l *Log) Write(ev Event) {
	if l == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.ServerHostname == "" {
		ev.ServerHostname = *l.host.Load()
	}
	if !l.subject.Load() {
		ev.MessageSubject = ""
	}
	if ev.RecipientCount == 0 {
		ev.RecipientCount = len(ev.Recipients)
	}
	l.out.Write(ev.record()...)
}

// Origin is what the SMTP session knows about where a message came from;
// the receive connector attaches it to the context of Enqueue.
type Origin struct {
	SessionID      string
	ClientIP       string
	ClientHostname string
	ServerIP       string

	// AuthResults, issue 13: the SPF/DKIM/DMARC verdict of an inbound
	// message, added to the RECEIVE event's MessageInfo.
	AuthResults string
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the Origin attached to ctx.
func OriginFrom(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

// mailboxDelivery is the queue manager's delivery type for local mailboxes.
const mailboxDelivery = "SmtpDeliveryToMailbox"

// QueueEvent records one step reported by the queue manager
// (queue.Options.OnEvent).
func (l *Log) QueueEvent(ctx context.Context, qe queue.Event) {
	if l == nil {
		return
	}
	env := qe.Envelope
	ev := Event{
		Time: qe.Time, InternalMessageID: env.ID, MessageID: env.MessageID, TotalBytes: env.Size,
		MessageSubject: env.Subject, Sender: env.From, ReturnPath: env.From, ConnectorID: env.Connector,
		Directionality: directionality(env),
	}
	if host, _, err := net.SplitHostPort(env.RemoteAddr); err == nil {
		ev.ClientIP = host
	}
	for _, r := range qe.Recipients {
		ev.Recipients = append(ev.Recipients, r.Address)
	}
	statuses := func(fallback string) {
		for _, r := range qe.Recipients {
			switch {
			case r.Reply != nil:
				ev.RecipientStatus = append(ev.RecipientStatus, r.Reply.Error())
			case r.LastError != "" && r.Status != queue.StatusDelivered:
				ev.RecipientStatus = append(ev.RecipientStatus, r.LastError)
			default:
				ev.RecipientStatus = append(ev.RecipientStatus, fallback)
			}
		}
	}
	smtpOrStore := SourceSMTP
	if qe.DeliveryType == mailboxDelivery {
		smtpOrStore = SourceStoreDriver
	}
	switch qe.Kind {
	case queue.EventEnqueued:
		ev.EventID, ev.Source = EventReceive, sourceOf(env.Source)
		ev.ClientHostname = env.HeloName
		if o, ok := OriginFrom(ctx); ok {
			ev.SourceContext, ev.ServerIP, ev.ClientHostname = o.SessionID, o.ServerIP, o.ClientHostname
			if o.ClientIP != "" {
				ev.ClientIP = o.ClientIP
			}
		}
		if env.AuthUser != "" {
			ev.MessageInfo = "AuthenticatedUser=" + env.AuthUser
		}
		if o, ok := OriginFrom(ctx); ok && o.AuthResults != "" {
			ev.MessageInfo = strings.TrimPrefix(ev.MessageInfo+"; AuthenticationResults="+o.AuthResults, "; ")
		}
		ev.RecipientCount = len(env.Recipients)
		statuses(RecipientAccepted)
	case queue.EventDelivered:
		ev.EventID, ev.Source = EventSend, smtpOrStore
		if qe.DeliveryType == mailboxDelivery {
			ev.EventID = EventDeliver
		}
		ev.ConnectorID, ev.SourceContext = qe.Queue, qe.DeliveryType
		ev.MessageInfo = fmt.Sprintf("attempt %s", qe.Attempt.Round(time.Millisecond))
		if qe.Info != "" {
			ev.MessageInfo += "; " + qe.Info
		}
		statuses("250 2.0.0 OK")
	case queue.EventDeferred:
		ev.EventID, ev.Source = EventDefer, smtpOrStore
		ev.ConnectorID, ev.SourceContext = qe.Queue, qe.DeliveryType
		ev.MessageInfo = qe.Info
		statuses("451 4.0.0 Deferred")
	case queue.EventFailed:
		ev.EventID = EventFail
		switch qe.FailReason {
		case queue.FailRouting:
			ev.Source = SourceRouting
		case queue.FailDelivery:
			ev.Source = smtpOrStore
			ev.ConnectorID, ev.SourceContext = qe.Queue, qe.DeliveryType
		default:
			ev.Source = SourceQueue
		}
		ev.MessageInfo = qe.FailReason
		statuses("550 5.0.0 Failed")
	case queue.EventDSN:
		ev.EventID, ev.Source = EventDSN, SourceDSN
		ev.RelatedRecipientAddress, ev.Reference = env.From, qe.Related
		if qe.Delayed {
			ev.MessageInfo = "Delayed"
		} else {
			ev.MessageInfo = "Failed"
		}
	case queue.EventPoison:
		ev.EventID, ev.Source = EventPoison, SourceQueue
		ev.ConnectorID = qe.Queue
	default:
		return
	}
	l.Write(ev)
}

func sourceOf(s string) string {
	switch strings.ToUpper(s) {
	case "PICKUP":
		return SourcePickup
	case "DSN":
		return SourceDSN
	}
	return SourceSMTP
}

// directionality is Originating for mail our users or this server sent
// (authenticated, pickup folder, notifications), else Incoming.
func directionality(env queue.Envelope) string {
	if env.AuthUser != "" || strings.EqualFold(env.Source, "PICKUP") || strings.EqualFold(env.Source, "DSN") {
		return "Originating"
	}
	return "Incoming"
}

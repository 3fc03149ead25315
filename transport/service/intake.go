package service

import (
	"context"
	"errors"
	"io"

	"github.com/transportd/transportd/connector/smtpd"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// smtpIntake hands the messages the receive connectors accept to the queue
// manager: it is smtpd.Queue, so that connector/smtpd needs nothing from
// transport. The session's origin goes with the context, for message
// tracking's RECEIVE event.
type smtpIntake struct {
	m *queue.Manager
	a mailAuth // issue 13: DKIM signing and sender authentication
}

// NewID implements smtpd.Queue.
func (q smtpIntake) NewID() string { return q.m.NewID() }

// Enqueue implements smtpd.Queue.
func (q smtpIntake) Enqueue(ctx context.Context, msg smtpd.Message, body io.Reader) (string, error) {
	var authResults string
	if q.a.s != nil {
		var err error
		if body, authResults, err = q.a.onReceive(ctx, &msg, body); err != nil {
			return "", err
		}
	}
	env := queue.Envelope{
		ID:            msg.ID,
		Source:        "SMTP",
		From:          msg.From,
		Connector:     msg.Connector,
		RemoteAddr:    msg.RemoteAddr.String(),
		HeloName:      msg.HeloName,
		AuthUser:      msg.AuthUser,
		TLS:           msg.TLS,
		ReceivedAt:    msg.ReceivedAt,
		MaxMessageLen: msg.MaxMessageLen,
		SMTPUTF8:      msg.SMTPUTF8,
		Body:          msg.Body,
		Ret:           msg.Ret,
		EnvID:         msg.EnvID,
		// The session read the header section once; the queue does not
		// read it again.
		MessageID:  msg.MessageID,
		Subject:    msg.Subject,
		HeaderRead: true,
		RequireTLS: msg.RequireTLS,
	}
	for _, r := range msg.Recipients {
		env.Recipients = append(env.Recipients, queue.Recipient{Address: r.Address, Local: r.Local, Notify: r.Notify})
	}
	ctx = tracking.WithOrigin(ctx, tracking.Origin{SessionID: msg.SessionID, ClientIP: msg.RemoteAddr.Addr().String(),
		ClientHostname: msg.HeloName, ServerIP: msg.LocalAddr.Addr().String(), AuthResults: authResults})
	id, err := q.m.Enqueue(ctx, env, body)
	if errors.Is(err, queue.ErrTooLarge) {
		return "", smtpd.ErrMessageTooLarge
	}
	if err != nil {
		return "", sharedQueueRefusal(err)
	}
	return id, err
}

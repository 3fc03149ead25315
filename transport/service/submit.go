package service

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/pickup"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/submit"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// submitSocketPath is where the local submission socket of `transportd
// sendmail` lives: SubmitSocketPath when set (the systemd unit's runtime
// folder, /run/transportd, which local users can reach), else the data
// folder (reachable only by the daemon's own user and root).
func (s *Service) submitSocketPath(cfg *config.Config) string {
	if s.SubmitSocketPath != "" {
		return s.SubmitSocketPath
	}
	return filepath.Join(cfg.DataDir(), submit.SocketName)
}

// runSubmit serves the local submission socket until ctx is done. A socket
// that cannot be created is logged and leaves the rest of the daemon
// running: sendmail then spools to the pickup folder or answers
// EX_TEMPFAIL.
func (s *Service) runSubmit(ctx context.Context) {
	cfg := s.Config()
	path := s.submitSocketPath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.log.Error("local submission (sendmail) is off", "socket", path, "err", err)
		return
	}
	srv := &submit.Server{MaxSize: maxConnectorSize(cfg), Log: s.log.With("component", "sendmail"), Submit: s.submitLocal}
	if err := srv.Listen(path); err != nil {
		s.log.Error("local submission (sendmail) is off", "socket", path, "err", err)
		return
	}
	defer os.Remove(path)
	if err := srv.Serve(ctx); err != nil {
		s.log.Error("local submission socket stopped", "socket", path, "err", err)
	}
}

// localDomain is the domain of local users' addresses: the default
// accepted domain, else the server's FQDN.
func localDomain(cfg *config.Config) string {
	for _, d := range cfg.AcceptedDomains {
		if d.Default && !strings.Contains(d.DomainName, "*") {
			return strings.ToLower(d.DomainName)
		}
	}
	return strings.ToLower(cfg.Server.Fqdn)
}

// submitLocal queues a message from `transportd sendmail` with pickup
// semantics: completed as a submission server does (Date, Message-ID),
// under a Received: field naming the local user, who is also recorded in
// message tracking.
func (s *Service) submitLocal(ctx context.Context, sub submit.Submission) (string, error) {
	cfg := s.Config()
	p, err := submit.Prepare(sub, localDomain(cfg))
	if err != nil {
		return "", err
	}
	now := time.Now()
	env := queue.Envelope{ID: s.queue.NewID(), From: p.From, Source: "PICKUP", ReceivedAt: now.UTC()}
	for _, r := range p.Recipients {
		env.Recipients = append(env.Recipients, queue.Recipient{Address: strings.ToLower(r)})
	}
	fqdn := cfg.Server.Fqdn
	msg := pickup.Complete(p.Message, env.ID, fqdn, now)
	who := fmt.Sprintf("local user %s (uid %d)", sub.User.Name, sub.User.UID)
	hdr := fmt.Sprintf("Received: by %s (transportd sendmail, from %s)\r\n\tid %s; %s\r\n", fqdn, who, env.ID, now.Format(time.RFC1123Z))
	ctx = tracking.WithOrigin(ctx, tracking.Origin{SessionID: "sendmail: " + who})
	id, err := s.queue.Enqueue(ctx, env, bytes.NewReader(s.signBytes(append([]byte(hdr), msg...))))
	if err != nil {
		return "", fmt.Errorf("queueing: %w", err)
	}
	s.log.Debug("queued from sendmail", "id", id, "user", sub.User.Name, "from", p.From, "recipients", len(p.Recipients))
	return id, nil
}

// Healthy answers the service manager's watchdog: it returns within
// timeout when the queue manager answers (its lock is not stuck), and an
// error otherwise, so that systemd restarts a daemon that hangs.
func (s *Service) Healthy(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.queue.Len()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the queue manager does not answer: %w", ctx.Err())
	}
}

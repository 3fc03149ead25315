package connectivity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/transportd/transportd/transport/admin/config"
)

type imapSession struct {
	o        *Options
	c        *imapclient.Client
	conn     net.Conn
	tls      bool
	selected bool
}

// dialIMAP reads the greeting (RFC 9051 section 7.1) and, for TLS, does
// STARTTLS (section 6.2.1).
func dialIMAP(ctx context.Context, o *Options, conn net.Conn) (session, error) {
	opts := &imapclient.Options{TLSConfig: o.tlsConfig()}
	s := &imapSession{o: o, conn: conn, tls: secure(conn)}
	var err error
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(o.Timeout))
	defer conn.SetDeadline(time.Time{})
	if o.Encryption == config.EncryptionTLS {
		s.c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return nil, fmt.Errorf("STARTTLS on %s: %w", o.Address, err)
		}
		s.tls = true
	} else {
		s.c = imapclient.New(conn, opts)
	}
	if err := s.c.WaitGreeting(); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("IMAP4 greeting from %s: %w", o.Address, err)
	}
	return s, nil
}

func (s *imapSession) logon(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	switch s.o.LoginType {
	case config.LoginSecureLogin:
		if !s.tls {
			return errSecureLogin(IMAP4)
		}
		fallthrough
	case config.LoginPlainTextLogin:
		if err := s.c.Login(s.o.User, s.o.Password).Wait(); err != nil {
			return fmt.Errorf("LOGIN as %s: %w", s.o.User, err)
		}
	case config.LoginPlainTextAuthentication:
		if err := s.c.Authenticate(sasl.NewPlainClient("", s.o.User, s.o.Password)); err != nil {
			return fmt.Errorf("AUTHENTICATE PLAIN as %s: %w", s.o.User, err)
		}
	}
	return nil
}

// find searches INBOX for the subject (RFC 9051 section 6.4.4) and
// deletes what it finds.
func (s *imapSession) find(ctx context.Context, subject string) (bool, error) {
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	if !s.selected {
		if _, err := s.c.Select("INBOX", nil).Wait(); err != nil {
			// A mailbox that has never received mail may have no INBOX
			// folder until the test message arrives: look again until the
			// deadline, unless the connection itself is gone.
			if ctx.Err() == nil && errors.As(err, new(*imap.Error)) {
				return false, nil
			}
			return false, fmt.Errorf("SELECT INBOX: %w", err)
		}
		s.selected = true
	} else if err := s.c.Noop().Wait(); err != nil {
		return false, fmt.Errorf("NOOP: %w", err)
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("SEARCH: %w", err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return false, nil
	}
	set := imap.UIDSetNum(uids...)
	if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return true, fmt.Errorf("found the test message but cannot delete it: %w", err)
	}
	if err := s.c.Expunge().Close(); err != nil {
		return true, fmt.Errorf("found the test message but cannot expunge it: %w", err)
	}
	return true, nil
}

func (s *imapSession) close() {
	s.c.Logout().Wait()
	s.c.Close()
}

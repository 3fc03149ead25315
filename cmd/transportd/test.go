package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/clientsettings"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/selftest"
)

// testCommand runs `transportd test smtp`, Exchange's Test-SmtpConnectivity:
//
//	transportd test smtp -identity "Client Frontend*" [-mailbox alice -password -]
//	transportd test smtp -server mail.contoso.com:587 [-fqdn mail.contoso.com] [-mailbox alice@contoso.com -password -]
//
// Each step is printed as PASS, FAIL or WARN with the reason; the command
// fails (exit 1) when a step fails.
func testCommand(m *manage.Manager, verb, identity string, ps manage.Params, readPw func() (string, error), out io.Writer) error {
	if verb != "smtp" && verb != "smtpconnectivity" {
		return fmt.Errorf("unknown test %q (use: transportd test smtp -identity \"Client Frontend*\" or -server host:port)", verb)
	}
	server, _ := ps.Take("Server")
	fqdn, _ := ps.Take("Fqdn")
	mailbox, _ := ps.Take("Mailbox")
	pwParam, hasPw := ps.Take("Password")
	if len(ps) > 0 {
		return fmt.Errorf("unknown parameter -%s (test smtp takes -Identity or -Server, -Fqdn, -Mailbox, -Password -)", ps[0].Name)
	}
	if (identity == "") == (server == "") {
		return errors.New("give either -Identity (a receive connector of this server) or -Server host:port")
	}
	password := ""
	if mailbox != "" {
		if !hasPw || pwParam != "-" {
			return errors.New("-Mailbox needs -Password - (the password is read from standard input, never from the command line)")
		}
		pw, err := readPw()
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		password = pw
	} else if hasPw {
		return errors.New("-Password needs -Mailbox")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	var runs []selftest.Options
	var titles []string
	if server != "" {
		if mailbox != "" && !strings.Contains(mailbox, "@") {
			return fmt.Errorf("-Mailbox %q: with -Server give the address the mailbox logs on with", mailbox)
		}
		runs = append(runs, selftest.Options{Address: server, Fqdn: fqdn, Mailbox: mailbox, Password: password, Log: log})
		titles = append(titles, server)
	} else {
		cfg, err := m.Load()
		if err != nil {
			return err
		}
		store, err := m.Certs(cfg)
		if err != nil {
			return err
		}
		var names []string
		for i := range cfg.ReceiveConnectors {
			rc := &cfg.ReceiveConnectors[i]
			names = append(names, rc.Name)
			if !manage.MatchIdentity(identity, rc.Name) {
				continue
			}
			if !rc.Enabled {
				return fmt.Errorf("receive connector %q is disabled (Enabled $false)", rc.Name)
			}
			o, err := selftest.ForConnector(cfg, rc, mailbox)
			if err != nil {
				return err
			}
			if fqdn != "" {
				o.Fqdn = fqdn
			}
			o.Password, o.Log = password, log
			o.CertificateStatus, _ = rc.TLSStatus(store, time.Now())
			runs = append(runs, o)
			titles = append(titles, fmt.Sprintf("%s (%s, %s)", rc.Name, o.Address, o.Fqdn))
		}
		if len(runs) == 0 {
			return fmt.Errorf("no receive connector matches identity %q (existing: %s)", identity, strings.Join(names, ", "))
		}
	}
	failed := 0
	for i, o := range runs {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "Testing SMTP submission through %s\n", titles[i])
		steps := selftest.Run(ctx, o)
		selftest.Format(out, steps)
		if selftest.Failed(steps) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tests failed; see FAIL above", failed, len(runs))
	}
	return nil
}

// showClientSettings prints, for `connector get -identity X -clientsettings`,
// what a POP3/IMAP user needs to submit mail through each matching connector.
func showClientSettings(m *manage.Manager, identity string, out io.Writer) error {
	cfg, err := m.Load()
	if err != nil {
		return err
	}
	store, err := m.Certs(cfg)
	if err != nil {
		return err
	}
	var recs []manage.Record
	var names []string
	for i := range cfg.ReceiveConnectors {
		rc := &cfg.ReceiveConnectors[i]
		names = append(names, rc.Name)
		if identity != "" && !manage.MatchIdentity(identity, rc.Name) {
			continue
		}
		s, err := clientsettings.For(cfg, rc)
		if err != nil {
			return err
		}
		var r manage.Record
		for _, f := range s.Fields() {
			r = append(r, manage.Property{Name: f.Name, Value: f.Value})
		}
		if status, ok := rc.TLSStatus(store, time.Now()); !ok {
			r = append(r, manage.Property{Name: "CertificateStatus", Value: "WARNING: " + status})
		} else {
			r = append(r, manage.Property{Name: "CertificateStatus", Value: status})
		}
		if s.Advertised {
			for _, b := range cfg.ClientSettings.HttpBindings {
				r = append(r, manage.Property{Name: "Autoconfig URL", Value: "http://" + b.String() + clientsettings.PathAutoconfig})
			}
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return fmt.Errorf("no receive connector matches identity %q (existing: %s)", identity, strings.Join(names, ", "))
	}
	FormatList(out, recs)
	return nil
}

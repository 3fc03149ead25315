package registry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/clientsettings"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/selftest"
)

// testKind is Exchange's Test-SmtpConnectivity: `transportd test smtp`.
func testKind() *Kind {
	return &Kind{Noun: "test", What: "check submission and reading mail end to end (Test-SmtpConnectivity, Test-ImapConnectivity, Test-PopConnectivity)",
		Commands: []*Command{
			{Verb: "smtp", VerbAliases: []string{"smtpconnectivity"}, Cmdlet: "Test-SmtpConnectivity",
				Synopsis: "Connects as a client and checks the greeting name, STARTTLS, the served certificate, AUTH, " +
					"a test submission and its delivery; one PASS/FAIL/WARN line per step, and an error when a step fails.",
				Params: params(val("Identity", "a receive connector of this server (wildcards * allowed), or this server's name or FQDN for all its enabled connectors (the default)"),
					val("Server", "HOST:PORT: any server instead of a connector"),
					val("Fqdn", "the name the greeting and certificate must carry (default: the connector's Fqdn)"),
					val("Mailbox", "log on and submit a test message as this mailbox"),
					val("Password", "-: the mailbox password, read from standard input"),
					val("SendConnector", "test the smart hosts of this send connector (or the -Server given) as the connector uses them: its Port, STARTTLS required only with RequireTLS, AUTH with its AuthenticationCredential; no message is sent")),
				Positional: []string{"Identity"}, IdentityParams: []string{"Identity"},
				Run: testSMTP},
			connectivityCommand(manage.ProtocolImap),
			connectivityCommand(manage.ProtocolPop),
		}}
}

// testSMTP runs the SMTP self-test against the connectors -Identity names
// or against -Server. Each step is written as PASS, FAIL or WARN with the
// reason; it fails when a step fails.
func testSMTP(env *Env, r Request) ([]manage.Record, error) {
	identity := localIdentity(env.Manager, r.Identity())
	ps := r.Params
	server, _ := ps.TakeExact("Server")
	fqdn, _ := ps.TakeExact("Fqdn")
	mailbox, _ := ps.TakeExact("Mailbox")
	pwParam, hasPw := ps.TakeExact("Password")
	if sc, ok := ps.TakeExact("SendConnector"); ok {
		if identity != "" || mailbox != "" || hasPw {
			return nil, errors.New("-SendConnector takes only -Server (a smart host to try instead of the connector's) and -Fqdn")
		}
		return testSendConnector(env, sc, server, fqdn)
	}
	if identity != "" && server != "" {
		return nil, errors.New("give either -Identity (a receive connector of this server) or -Server host:port")
	}
	// As in Exchange, the server (by name or FQDN, or piped from
	// Get-TransportService) or nothing tests every enabled connector.
	allOfServer := false
	if server == "" {
		if cfg, err := env.Manager.Load(); err == nil && (identity == "" || strings.EqualFold(identity, cfg.Server.Name) || strings.EqualFold(identity, cfg.Server.Fqdn)) {
			identity, allOfServer = "*", true
		}
	}
	password := ""
	if mailbox != "" {
		if !hasPw || pwParam != "-" {
			return nil, errors.New("-Mailbox needs -Password - (the password is read from standard input, never from the command line)")
		}
		if env.ReadPassword == nil {
			return nil, errors.New("-Password -: no standard input to read the password from")
		}
		pw, err := env.ReadPassword()
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		password = pw
	} else if hasPw {
		return nil, errors.New("-Password needs -Mailbox")
	}
	log := slog.New(slog.DiscardHandler)

	var runs []selftest.Options
	var titles []string
	if server != "" {
		if mailbox != "" && !strings.Contains(mailbox, "@") {
			return nil, fmt.Errorf("-Mailbox %q: with -Server give the address the mailbox logs on with", mailbox)
		}
		runs = append(runs, selftest.Options{Address: server, Fqdn: fqdn, Mailbox: mailbox, Password: password, Log: log})
		titles = append(titles, server)
	} else {
		cfg, err := env.Manager.Load()
		if err != nil {
			return nil, err
		}
		store, err := env.Manager.Certs(cfg)
		if err != nil {
			return nil, err
		}
		var names []string
		for i := range cfg.ReceiveConnectors {
			rc := &cfg.ReceiveConnectors[i]
			names = append(names, rc.Name)
			if !manage.MatchIdentity(identity, rc.Name) {
				continue
			}
			if !rc.Enabled {
				if allOfServer {
					continue
				}
				return nil, fmt.Errorf("receive connector %q is disabled (Enabled $false)", rc.Name)
			}
			o, err := selftest.ForConnector(cfg, rc, mailbox)
			if err != nil {
				return nil, err
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
			return nil, fmt.Errorf("no receive connector matches identity %q (existing: %s), nor is it this server (%s, %s): transportd tests only its own connectors", identity, strings.Join(names, ", "), cfg.Server.Name, cfg.Server.Fqdn)
		}
	}
	out := env.Out
	if out == nil {
		out = io.Discard
	}
	failed := 0
	for i, o := range runs {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "Testing SMTP submission through %s\n", titles[i])
		steps := selftest.Run(env.ctx(), o)
		selftest.Format(out, steps)
		if selftest.Failed(steps) {
			failed++
		}
	}
	if failed > 0 {
		return nil, fmt.Errorf("%d of %d tests failed; see FAIL above", failed, len(runs))
	}
	return nil, nil
}

// clientSettings is `connector get -ClientSettings`: what a POP3/IMAP user
// needs to submit mail through each connector identity matches.
func clientSettings(m *manage.Manager, identity string) ([]manage.Record, error) {
	cfg, err := m.Load()
	if err != nil {
		return nil, err
	}
	store, err := m.Certs(cfg)
	if err != nil {
		return nil, err
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
			return nil, err
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
		return nil, fmt.Errorf("no receive connector matches identity %q (existing: %s)", identity, strings.Join(names, ", "))
	}
	return recs, nil
}

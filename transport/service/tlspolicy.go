package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/dane"
	"github.com/transportd/transportd/transport/mail/mtasts"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/smtpout"
	"github.com/transportd/transportd/transport/mail/tlsrpt"
)

// tlsPolicies are the MTA-STS (RFC 8461) and DANE (RFC 7672) lookups of
// send connectors with DNSRoutingEnabled: one set asking the transport
// service's ExternalDNSServers (connectors with
// UseExternalDNSServersEnabled), one the internal (or system) servers.
// MTA-STS policies are cached in the data folder, so a restart keeps them
// (RFC 8461 section 5.1). DANE applies only where the resolver validates
// DNSSEC and sets the AD bit.
type tlsPolicies struct {
	external, internal smtpout.TLSPolicies
}

// tlsPolicyEnv is what the policies take from the service.
type tlsPolicyEnv struct {
	report  func(tlsrpt.Outcome)
	stsHTTP func() *http.Client
}

func (s *Service) tlsPolicyEnv() tlsPolicyEnv {
	return tlsPolicyEnv{report: s.tlsReports.Record, stsHTTP: s.stsHTTP.Load}
}

// SetMTASTSHTTPClient makes the send connectors fetch MTA-STS policies with
// c (tests: an HTTPS server on loopback that the policy hosts resolve to);
// nil restores the built-in client. It applies to the next fetch.
func (s *Service) SetMTASTSHTTPClient(c *http.Client) { s.stsHTTP.Store(c) }

func newTLSPolicies(c *config.Config, external, internal *net.Resolver, log *slog.Logger, env tlsPolicyEnv) tlsPolicies {
	dir := c.DataDir()
	build := func(r *net.Resolver, servers []string, cache string) smtpout.TLSPolicies {
		p := smtpout.TLSPolicies{Report: env.report}
		o := mtasts.Options{CacheFile: filepath.Join(dir, cache), Logger: log.With("component", "mta-sts"), HTTPClient: env.stsHTTP}
		if r != nil {
			o.Resolver = r
		}
		p.MTASTS = mtasts.New(o)
		d, err := dane.NewResolver(servers)
		if err != nil {
			log.Warn("DANE is off: no DNS server to ask for TLSA records", "err", err)
		} else {
			p.DANE = d
		}
		return p
	}
	return tlsPolicies{
		external: build(external, c.Transport.ExternalDNSServers, "mta-sts-policies.json"),
		internal: build(internal, c.Transport.InternalDNSServers, "mta-sts-policies-internal.json"),
	}
}

func (p tlsPolicies) forConnector(external bool) smtpout.TLSPolicies {
	if external {
		return p.external
	}
	return p.internal
}

// TLS reporting (RFC 8460): the counts live in the data folder; every
// tlsReportsInterval they are saved, and the days that have ended are
// reported to each policy domain's "_smtp._tls" rua addresses.
const (
	tlsReportsFile     = "tlsrpt-sessions.json"
	tlsReportsInterval = 5 * time.Minute
)

// runTLSReports saves the TLS session counts and sends the reports of
// finished days, every interval, until ctx ends (then it saves once more).
func (s *Service) runTLSReports(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	defer func() {
		if err := s.tlsReports.Save(); err != nil {
			s.log.Warn("saving the TLS report counts", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.tlsReports.Save(); err != nil {
			s.log.Warn("saving the TLS report counts", "err", err)
		}
		cfg := s.Config()
		s.sendTLSReports(ctx, cfg, s.tlsReports.Due(cfg.Server.Fqdn, postmasterOf(cfg)))
	}
}

// sendTLSReports sends each report to the rua addresses its domain
// publishes: mailto: as a message through the queue, https: as a POST
// (RFC 8460 section 5). A report nobody asked for is dropped.
func (s *Service) sendTLSReports(ctx context.Context, cfg *config.Config, reps []tlsrpt.Report) {
	if len(reps) == 0 {
		return
	}
	r, err := smtpout.NewResolver(cfg.Transport.ExternalDNSServers)
	if err != nil || r == nil {
		r = net.DefaultResolver
	}
	client := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed for TLS reports")
	}}
	from := postmasterOf(cfg)
	for _, rep := range reps {
		txts, err := r.LookupTXT(ctx, "_smtp._tls."+rep.Domain)
		if err != nil {
			s.log.Info("no TLS report for domain: no _smtp._tls record", "domain", rep.Domain, "err", err)
			continue
		}
		ruas, err := tlsrpt.ParseRUA(txts)
		if err != nil {
			s.log.Info("no TLS report for domain", "domain", rep.Domain, "err", err)
			continue
		}
		for _, rua := range ruas {
			if to, ok := strings.CutPrefix(rua, "mailto:"); ok {
				to, _, _ = strings.Cut(to, "?")
				err = s.enqueueTLSReport(ctx, cfg, rep, from, to)
			} else {
				err = rep.Post(ctx, client, rua)
			}
			if err != nil {
				s.log.Warn("TLS report not sent", "domain", rep.Domain, "rua", rua, "err", err)
				continue
			}
			s.log.Info("TLS report sent", "domain", rep.Domain, "rua", rua, "report_id", rep.ID)
		}
	}
}

// enqueueTLSReport queues the report mail to one mailto: address.
func (s *Service) enqueueTLSReport(ctx context.Context, cfg *config.Config, rep tlsrpt.Report, from, to string) error {
	now := time.Now()
	env := queue.Envelope{From: from, Source: "DSN", ReceivedAt: now.UTC(),
		Recipients: []queue.Recipient{{Address: strings.ToLower(to)}}}
	env.ID = s.queue.NewID()
	msg := rep.Message(from, to, cfg.Server.Fqdn, now)
	hdr := fmt.Sprintf("Received: by %s (transportd TLS reporting) id %s; %s\r\n", cfg.Server.Fqdn, env.ID, now.Format(time.RFC1123Z))
	_, err := s.queue.Enqueue(ctx, env, bytes.NewReader(append([]byte(hdr), msg...)))
	return err
}

package service

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/web"
)

// runAdminCenter serves the admin center (issue 15) on the binding of
// AdminCenter.InternalUrl, over HTTPS only, until ctx is done. It listens
// once a role group has a member (nobody could sign in before) and
// AdminEnabled is not $false; it moves make-before-break when the URL
// changes: the new socket is bound first, and when it cannot be, the old
// one stays and the log says why.
func (s *Service) runAdminCenter(ctx context.Context) {
	log := s.log.With("component", "admincenter")
	h, err := web.New(web.Options{
		ConfigPath:   s.path,
		Config:       s.Config,
		Authenticate: s.dir.Authenticate,
		Lockout:      s.lockout,
		Log:          log,
		Stats:        s.sampler,
	})
	if err != nil {
		log.Error("admin center cannot start", "err", err)
		return
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// TLS handshake errors (a scanner, a port probe) are not worth more than a debug line.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	tlsCfg := s.certs.ServerTLSConfig(func() (string, string) { return adminCertificate(s.Config()) })
	tlsCfg = tlsCfg.Clone()
	tlsCfg.NextProtos = []string{"http/1.1"}
	var (
		wg      sync.WaitGroup
		cur     net.Listener
		binding netip.AddrPort
	)
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		if cur != nil {
			cur.Close()
		}
		wg.Wait()
	}()
	for {
		cfg, changed := s.configApplied()
		want, _, err := cfg.AdminCenter.Binding()
		on := err == nil && !cfg.AdminCenter.AdminDisabled && cfg.AdminCenter.HasMembers()
		switch {
		case !on && cur != nil:
			cur.Close()
			cur, binding = nil, netip.AddrPort{}
			log.Info("admin center closed", "reason", adminOffReason(cfg))
		case on && (cur == nil || want != binding):
			l, lerr := net.Listen("tcp", want.String())
			if lerr != nil && cur != nil && want.Port() == binding.Port() {
				// Same port, another address: release ours first, and
				// take it back when the new one still fails.
				cur.Close()
				l, lerr = net.Listen("tcp", want.String())
				if lerr != nil {
					if back, berr := net.Listen("tcp", binding.String()); berr == nil {
						cur = back
						serveAdmin(&wg, srv, tls.NewListener(back, tlsCfg), log)
					} else {
						cur = nil
					}
				}
			}
			if lerr != nil {
				log.Error("admin center cannot listen; it keeps its binding until the configuration changes", "binding", want.String(), "err", lerr)
				break
			}
			if cur != nil {
				cur.Close()
			}
			cur, binding = l, want
			serveAdmin(&wg, srv, tls.NewListener(l, tlsCfg), log)
			log.Info("admin center listening", "url", cfg.AdminCenter.URL(), "binding", want.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func serveAdmin(wg *sync.WaitGroup, srv *http.Server, l net.Listener, log interface {
	Error(string, ...any)
}) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("admin center stopped", "err", err)
		}
	}()
}

func adminOffReason(cfg *config.Config) string {
	switch {
	case cfg.AdminCenter.AdminDisabled:
		return "AdminEnabled is $false"
	case !cfg.AdminCenter.HasMembers():
		return "no role group has a member (transportd admin grant MAILBOX)"
	}
	return "InternalUrl is not valid"
}

// adminCertificate is the certificate the admin center serves: its own
// TlsCertificateName, else the Default Frontend connector's (the one of
// the first connector when it was renamed), looked up by the server's FQDN.
func adminCertificate(cfg *config.Config) (string, string) {
	if cfg.AdminCenter.TlsCertificateName != "" {
		return cfg.AdminCenter.TlsCertificateName, cfg.Server.Fqdn
	}
	for i := range cfg.ReceiveConnectors {
		if rc := &cfg.ReceiveConnectors[i]; strings.HasPrefix(rc.Name, "Default Frontend") {
			return rc.TlsCertificateName, rc.Fqdn
		}
	}
	if len(cfg.ReceiveConnectors) > 0 {
		return cfg.ReceiveConnectors[0].TlsCertificateName, cfg.ReceiveConnectors[0].Fqdn
	}
	return "", cfg.Server.Fqdn
}

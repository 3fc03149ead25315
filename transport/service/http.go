package service

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/transportd/transportd/transport/clientsettings"
	"github.com/transportd/transportd/transport/config"
)

// httpPoll is how often runHTTP looks for a new configuration.
const httpPoll = 250 * time.Millisecond

// runHTTP runs the client settings endpoint (ClientSettings.HttpBindings)
// until ctx is done. It opens the listeners once an enabled receive
// connector has AdvertiseClientSettings $true, moves them when HttpBindings
// changes and closes them when HttpBindings is emptied. While they are open
// and no connector advertises, every document is 404 with the reason. The
// handler reads the live configuration on each request.
func (s *Service) runHTTP(ctx context.Context) {
	log := s.log.With("component", "clientsettings")
	srv := &http.Server{
		Handler:           clientsettings.Handler(s.Config, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	// HTTPS uses the certificate the advertising connector serves for
	// STARTTLS, looked up at every handshake (renewals apply at once).
	tlsCfg := s.certs.ServerTLSConfig(func() (string, string) {
		cfg := s.Config()
		for i := range cfg.ReceiveConnectors {
			if rc := &cfg.ReceiveConnectors[i]; rc.Enabled && rc.AdvertiseClientSettings {
				return rc.TlsCertificateName, rc.Fqdn
			}
		}
		return "", cfg.Server.Fqdn
	})
	var (
		open  []netip.AddrPort // bindings with a listener (HTTPS ones after the HTTP ones)
		lns   []net.Listener
		tried *config.Config // the configuration last acted on
	)
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
		lns, open = nil, nil
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		closeAll()
	}()
	tick := time.NewTicker(httpPoll)
	defer tick.Stop()
	for {
		if cfg := s.Config(); cfg != tried {
			tried = cfg
			plain := len(cfg.ClientSettings.HttpBindings)
			want := append(slices.Clone(cfg.ClientSettings.HttpBindings), cfg.ClientSettings.HttpsBindings...)
			if !advertises(cfg) && !slices.Equal(open, want) {
				want = nil // do not open a port nobody asked for
			}
			if !slices.Equal(open, want) {
				closeAll()
				for i, b := range want {
					l, err := net.Listen("tcp", b.String())
					if err == nil && i >= plain {
						l = tls.NewListener(l, tlsCfg)
					}
					if err != nil {
						log.Error("client settings endpoint cannot listen; it stays off until the configuration changes", "binding", b.String(), "err", err)
						closeAll()
						break
					}
					lns, open = append(lns, l), append(open, b)
					go func() {
						if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
							log.Error("client settings endpoint stopped", "binding", b.String(), "err", err)
						}
					}()
				}
				if len(open) > 0 {
					log.Info("client settings endpoint listening", "bindings", open,
						"paths", []string{clientsettings.PathAutoconfig, clientsettings.PathAutoconfigWellKnown, clientsettings.PathAutodiscover, clientsettings.PathMobileConfig})
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// advertises reports whether an enabled receive connector advertises client settings.
func advertises(cfg *config.Config) bool {
	for i := range cfg.ReceiveConnectors {
		if rc := &cfg.ReceiveConnectors[i]; rc.Enabled && rc.AdvertiseClientSettings {
			return true
		}
	}
	return false
}

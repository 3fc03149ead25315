package service

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/transportd/transportd/transport/admin/clientsettings"
	"github.com/transportd/transportd/transport/admin/config"
)

// httpListener is one listener of the client settings endpoint.
type httpListener struct {
	binding netip.AddrPort
	https   bool
}

// runHTTP runs the client settings endpoint (ClientSettings.HttpBindings
// and HttpsBindings) until ctx is done. It opens the listeners once an
// enabled receive connector has AdvertiseClientSettings $true, moves them
// when the bindings change and closes them when they are emptied. While
// they are open and no connector advertises, every document is 404 with
// the reason. The handler reads the live configuration on each request.
//
// Moves are make-before-break: the new sockets are bound first, and when
// one cannot be, the endpoint keeps the bindings it has and says why.
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
	var wg sync.WaitGroup
	open := map[httpListener]net.Listener{}
	listen := func(k httpListener) (net.Listener, error) {
		l, err := net.Listen("tcp", k.binding.String())
		if err != nil {
			return nil, err
		}
		if k.https {
			l = tls.NewListener(l, tlsCfg)
		}
		return l, nil
	}
	serve := func(k httpListener, l net.Listener) {
		open[k] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				log.Error("client settings endpoint stopped", "binding", k.binding.String(), "err", err)
			}
		}()
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		for _, l := range open {
			l.Close()
		}
		wg.Wait()
	}()
	for {
		cfg, changed := s.configApplied()
		var want []httpListener
		for _, b := range cfg.ClientSettings.HttpBindings {
			want = append(want, httpListener{b, false})
		}
		for _, b := range cfg.ClientSettings.HttpsBindings {
			want = append(want, httpListener{b, true})
		}
		if !advertises(cfg) && !sameHTTP(open, want) {
			want = nil // do not open a port nobody asked for
		}
		s.moveHTTP(log, open, want, listen, serve)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// sameHTTP reports whether open has exactly the listeners of want.
func sameHTTP(open map[httpListener]net.Listener, want []httpListener) bool {
	wanted := map[httpListener]bool{}
	for _, k := range want {
		wanted[k] = true
	}
	if len(open) != len(wanted) {
		return false
	}
	for k := range open {
		if !wanted[k] {
			return false
		}
	}
	return true
}

// moveHTTP makes the listeners in open those of want: it binds the new
// ones first and closes the old ones after; if one cannot be bound, it
// keeps open as it is. A binding that an old listener holds on the same
// port (moved between HttpBindings and HttpsBindings) is closed just
// before, and bound again if the new one still fails.
func (s *Service) moveHTTP(log *slog.Logger, open map[httpListener]net.Listener, want []httpListener,
	listen func(httpListener) (net.Listener, error), serve func(httpListener, net.Listener)) {
	if sameHTTP(open, want) {
		return
	}
	wanted := map[httpListener]bool{}
	for _, k := range want {
		wanted[k] = true
	}
	opened := map[httpListener]net.Listener{}
	released := map[httpListener]bool{}
	var failed error
	for _, k := range want {
		if _, ok := open[k]; ok || opened[k] != nil {
			continue
		}
		l, err := listen(k)
		if err != nil && errors.Is(err, syscall.EADDRINUSE) {
			for old, ol := range open {
				if !wanted[old] && old.binding.Port() == k.binding.Port() {
					ol.Close()
					delete(open, old)
					released[old] = true
				}
			}
			l, err = listen(k)
		}
		if err != nil {
			failed = err
			break
		}
		opened[k] = l
	}
	if failed != nil {
		for _, l := range opened {
			l.Close()
		}
		for k := range released {
			if l, err := listen(k); err == nil {
				serve(k, l)
			} else {
				log.Error("client settings endpoint could not listen again", "binding", k.binding.String(), "err", err)
			}
		}
		log.Error("client settings endpoint cannot listen; it keeps its bindings until the configuration changes", "err", failed)
		return
	}
	for k, l := range open {
		if !wanted[k] {
			l.Close()
			delete(open, k)
		}
	}
	for k, l := range opened {
		serve(k, l)
	}
	if len(open) > 0 {
		var bindings []string
		for _, k := range want {
			bindings = append(bindings, k.binding.String())
		}
		log.Info("client settings endpoint listening", "bindings", bindings,
			"paths", []string{clientsettings.PathAutoconfig, clientsettings.PathAutoconfigWellKnown, clientsettings.PathAutodiscover, clientsettings.PathMobileConfig})
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

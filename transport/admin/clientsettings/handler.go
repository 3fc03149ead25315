package clientsettings

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// The paths Handler serves.
const (
	PathAutoconfig          = "/mail/config-v1.1.xml"
	PathAutoconfigWellKnown = "/.well-known/autoconfig/mail/config-v1.1.xml"
	PathAutodiscover        = "/autodiscover/autodiscover.xml"
	PathMobileConfig        = "/mail/transportd.mobileconfig"
)

// maxRequestBody caps an autodiscover POST; Outlook sends a few hundred bytes.
const maxRequestBody = 64 << 10

// Handler serves the client settings documents for the receive connector
// that advertises them. current returns the configuration in force and is
// called on every request, so a reload applies at once. When no enabled
// connector advertises, every document is 404 with the reason in plain text.
func Handler(current func() *config.Config, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{current: current, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathAutoconfig, h.autoconfig)
	mux.HandleFunc("GET "+PathAutoconfigWellKnown, h.autoconfig)
	for _, p := range []string{PathAutodiscover, "/Autodiscover/Autodiscover.xml", "/AutoDiscover/AutoDiscover.xml"} {
		mux.HandleFunc("GET "+p, h.autodiscover)
		mux.HandleFunc("POST "+p, h.autodiscover)
	}
	mux.HandleFunc("GET "+PathMobileConfig, h.mobileconfig)
	return mux
}

type handler struct {
	current func() *config.Config
	log     *slog.Logger
}

// settings returns the advertised settings, or writes the 404 and returns false.
func (h *handler) settings(w http.ResponseWriter, r *http.Request) (Settings, bool) {
	s, err := Advertised(h.current())
	if err != nil {
		h.plain(w, r, http.StatusNotFound, err)
		return Settings{}, false
	}
	return s, true
}

func (h *handler) plain(w http.ResponseWriter, r *http.Request, code int, err error) {
	h.log.Info("client settings request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "reason", err.Error())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, err.Error())
}

func (h *handler) write(w http.ResponseWriter, r *http.Request, contentType string, body []byte, err error) {
	if errors.Is(err, ErrNoIncoming) {
		h.plain(w, r, http.StatusNotFound, err)
		return
	}
	if err != nil {
		h.log.Error("client settings document", "path", r.URL.Path, "err", err)
		h.plain(w, r, http.StatusInternalServerError, errors.New("internal error; see the transportd log"))
		return
	}
	h.log.Debug("client settings served", "path", r.URL.Path, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(body)
}

func (h *handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	s, ok := h.settings(w, r)
	if !ok {
		return
	}
	body, err := Autoconfig(s)
	h.write(w, r, "text/xml; charset=utf-8", body, err)
}

func (h *handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	s, ok := h.settings(w, r)
	if !ok {
		return
	}
	email := r.URL.Query().Get("email")
	if r.Method == http.MethodPost {
		var req autodiscoverRequest
		err := xml.NewDecoder(io.LimitReader(r.Body, maxRequestBody)).Decode(&req)
		schema := strings.TrimSpace(req.Request.AcceptableResponseSchema)
		switch {
		case err != nil:
			h.autodiscoverFailure(w, r, 600, "Invalid Request", "the request is not autodiscover XML: "+err.Error())
			return
		case schema != "" && schema != AutodiscoverOutlookSchemaNS:
			h.autodiscoverFailure(w, r, 600, "Invalid Request", "only the Outlook response schema "+AutodiscoverOutlookSchemaNS+" is served")
			return
		}
		email = strings.TrimSpace(req.Request.EMailAddress)
	}
	if email != "" {
		addr, err := checkAddress(email)
		if err != nil {
			h.autodiscoverFailure(w, r, 600, "Invalid Request", err.Error())
			return
		}
		email = addr
	}
	body, err := Autodiscover(s, email)
	h.write(w, r, "text/xml; charset=utf-8", body, err)
}

func (h *handler) autodiscoverFailure(w http.ResponseWriter, r *http.Request, code int, msg, debug string) {
	h.log.Info("autodiscover request refused", "remote", r.RemoteAddr, "code", code, "reason", debug)
	body, err := AutodiscoverFailure(code, msg, debug, time.Now().UTC().Format("15:04:05.0000000"))
	h.write(w, r, "text/xml; charset=utf-8", body, err)
}

func (h *handler) mobileconfig(w http.ResponseWriter, r *http.Request) {
	s, ok := h.settings(w, r)
	if !ok {
		return
	}
	email, err := checkAddress(r.URL.Query().Get("email"))
	if err != nil {
		h.plain(w, r, http.StatusBadRequest, fmt.Errorf("%w: give the user's address as ?email=user@%s", err, s.DomainName))
		return
	}
	body, err := MobileConfig(s, email)
	if err == nil {
		local, _, _ := strings.Cut(email, "@")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.mobileconfig"`, sanitizeFilename(local)))
	}
	h.write(w, r, MobileConfigType, body, err)
}

// checkAddress accepts a bare address (no display name) and returns it.
func checkAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("no e-mail address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not an e-mail address", s)
	}
	return a.Address, nil
}

func sanitizeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

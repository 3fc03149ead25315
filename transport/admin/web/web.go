// Package web is the admin center: the pages Exchange admins know from the
// Exchange admin center (EAC) and IIS Manager, served by the daemon over
// HTTPS on their own binding (Set-EcpVirtualDirectory -InternalUrl,
// default https://127.0.0.1:8443/ecp).
//
// # Security
//
// Members of the role groups (Add-RoleGroupMember) sign in with their
// mailbox name and password, checked by the same credential store and
// limited by the same lockout guard as SMTP AUTH. A session is a random
// id in a __Host- cookie (Secure, HttpOnly, SameSite=Strict, Path=/) that
// expires after SessionTimeoutMinutes without use. Every POST carries the
// session's CSRF token and is refused when Origin or Sec-Fetch-Site say
// it comes from another site. Every response forbids framing and caching
// and allows no inline script (Content-Security-Policy).
//
// # One path for every change
//
// A page never edits the configuration itself: it builds the shell line
// that makes the change (Cmd, e.g. Set-ReceiveConnector -Identity 'Default
// Frontend MAIL' -Fqdn 'mail.contoso.com') and runs it through the shell
// engine (Context.Run), so the validation, the warnings and the errors are
// those of the shell and the CLI. The line is shown to the admin ("Show
// Command Logging" lists every line of the session) and appended to the
// admin audit log (Search-AdminAuditLog) with who, when and from where.
// Pages read through the admin registry's Get- commands (Context.Query).
//
// # Adding pages
//
// A file adds pages with a function returning []Page, listed once in
// (*Server).pages. A Page has a Path under the admin center's prefix
// ("/receive"), a Title, a Section (the navigation group; pages without a
// Nav title are not in the navigation), who may read it (Read) and who may
// post to it (Write), a Template (a file of assets/templates that defines
// "content"), and a Handler:
//
//	func sendPages() []Page {
//		return []Page{{Path: "/send", Title: "Send connectors", Nav: "Send connectors", Section: "Mail flow",
//			Read: OrgRead, Write: OrgWrite, Template: "send_list.html", Handler: sendList}}
//	}
//
//	func sendList(c *Context) {
//		if c.Posted() { // POST: the CSRF token and the Write role are checked already
//			res := c.Run(NewCmd("Set-SendConnector").Id(c.Form("id")).Text("SmartHosts", c.Form("smarthosts")))
//			c.Redirect("/send", res)
//			return
//		}
//		recs, err := c.Query(NewCmd("Get-SendConnector"))
//		c.Render(map[string]any{"Connectors": recs, "Error": err})
//	}
//
// Templates get a View: .Data is what the handler passed to Render, and
// the layout shows the navigation, the results of the last change
// (.Results) and the session's command log. Forms must carry
// {{template "csrf" .}}. CSS and JavaScript go into assets/static (embedded;
// no inline script or style attribute: the CSP forbids them).
package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"time"

	"github.com/transportd/transportd/policies/lockout"
	"github.com/transportd/transportd/transport/admin/config"
)

//go:embed assets
var assets embed.FS

// Options are what the admin center runs with.
type Options struct {
	// ConfigPath is the configuration file the shell lines change.
	ConfigPath string
	// Config returns the configuration in force (role groups, session
	// timeout, the URL prefix).
	Config func() *config.Config
	// Authenticate checks a mailbox password as SMTP AUTH does and returns
	// the mailbox's primary address.
	Authenticate func(ctx context.Context, user, password string) (string, error)
	// Lockout limits sign-in attempts, shared with SMTP AUTH; nil: a
	// guard of its own with the default policy.
	Lockout *lockout.Guard
	// Control calls the running daemon (queues); nil: its control socket.
	Control func(ctx context.Context, op string, args, out any) error
	// Log receives sign-ins and refusals.
	Log *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	// Stats is the metrics history the dashboard draws (dashboard.go);
	// nil: the dashboard shows the warnings and the queues only.
	Stats Stats
}

// Server is the admin center's HTTP handler.
type Server struct {
	opt      Options
	sessions *sessions
	pages    []*page
	static   http.Handler
	signIn   *template.Template
}

type page struct {
	Page
	tmpl *template.Template
}

// New returns the admin center for opt.
func New(opt Options) (*Server, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Lockout == nil {
		opt.Lockout = lockout.New(lockout.DefaultPolicy(), opt.Now)
	}
	s := &Server{opt: opt, sessions: newSessions(opt.Now)}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("admin center templates: %w", err)
	}
	if s.signIn, err = template.Must(base.Clone()).ParseFS(assets, "assets/templates/signin.html"); err != nil {
		return nil, fmt.Errorf("admin center templates: %w", err)
	}
	for _, p := range s.allPages() {
		t, err := template.Must(base.Clone()).ParseFS(assets, "assets/templates/"+p.Template)
		if err != nil {
			return nil, fmt.Errorf("admin center page %s: %w", p.Path, err)
		}
		s.pages = append(s.pages, &page{Page: p, tmpl: t})
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	s.static = http.FileServerFS(static)
	return s, nil
}

// prefix is the path the admin center is served under ("/ecp").
func (s *Server) prefix() string {
	cfg := s.opt.Config()
	if cfg == nil {
		return "/ecp"
	}
	_, p, err := cfg.AdminCenter.Binding()
	if err != nil {
		return "/ecp"
	}
	return p
}

// ServeHTTP serves the admin center.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secure(w)
	prefix := s.prefix()
	if r.URL.Path == "/" || r.URL.Path == prefix {
		http.Redirect(w, r, prefix+"/", http.StatusSeeOther)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, prefix+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	rest = "/" + rest
	if strings.HasPrefix(rest, "/static/") {
		w.Header().Set("Cache-Control", "no-cache")
		http.StripPrefix(prefix+"/static", s.static).ServeHTTP(w, r)
		return
	}
	switch rest {
	case "/signin":
		s.handleSignIn(w, r, prefix)
		return
	case "/signout":
		s.handleSignOut(w, r, prefix)
		return
	case "/":
		s.serveLanding(w, r, prefix)
		return
	}
	for _, p := range s.pages {
		if p.Path == rest {
			s.servePage(w, r, p, prefix)
			return
		}
	}
	http.NotFound(w, r)
}

// secure sets the headers every response carries.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on
	// the admin center's own forms, and the Origin check could not tell them apart.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// sameOrigin reports whether a POST comes from the admin center's own
// pages: Sec-Fetch-Site (sent by every current browser) must be
// same-origin, and Origin, when sent, must be this host over HTTPS.
func sameOrigin(r *http.Request) bool {
	if v := r.Header.Get("Sec-Fetch-Site"); v != "" && v != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, "https://"+r.Host) {
		return false
	}
	return true
}

// serveLanding serves the dashboard at "/", the landing page after sign-in
// as EAC's, or sends a member whose role groups do not show it (Recipient
// Management) to the first page of the navigation they may read.
func (s *Server) serveLanding(w http.ResponseWriter, r *http.Request, prefix string) {
	var dash *page
	for _, p := range s.pages {
		if p.Path == "/dashboard" {
			dash = p
		}
	}
	if sess := s.sessions.get(r, s.idle()); sess != nil && (dash == nil || !dash.Read.allows(s.groupsOf(sess.user))) {
		groups := s.groupsOf(sess.user)
		for _, p := range s.pages {
			if p.Nav != "" && p.Read.allows(groups) {
				http.Redirect(w, r, prefix+p.Path, http.StatusSeeOther)
				return
			}
		}
	}
	if dash == nil {
		http.NotFound(w, r)
		return
	}
	s.servePage(w, r, dash, prefix)
}

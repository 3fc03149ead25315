package web

import (
	"bytes"
	"context"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// Access says which role groups may read or change a page.
type Access int

const (
	// OrgRead: Organization Management and View-Only Organization Management.
	OrgRead Access = iota
	// OrgWrite: Organization Management.
	OrgWrite
	// RecipientWrite: Organization Management and Recipient Management.
	RecipientWrite
	// RecipientRead: every role group.
	RecipientRead
)

// allows reports whether a member of groups has access a.
func (a Access) allows(groups []string) bool {
	has := func(g string) bool { return slices.Contains(groups, g) }
	switch a {
	case OrgRead:
		return has(config.RoleOrganizationManagement) || has(config.RoleViewOnlyOrganizationManagement)
	case OrgWrite:
		return has(config.RoleOrganizationManagement)
	case RecipientWrite:
		return has(config.RoleOrganizationManagement) || has(config.RoleRecipientManagement)
	case RecipientRead:
		return len(groups) > 0
	}
	return false
}

// Page is one page of the admin center. See the package doc.
type Page struct {
	// Path is the page's path under the admin center's prefix ("/receive").
	Path string
	// Title is the page's title (<title> and <h1>).
	Title string
	// Nav is the page's entry in the navigation; empty: not listed.
	Nav string
	// Section groups the navigation ("Mail flow").
	Section string
	// Read is who may GET the page; Write who may POST to it.
	Read, Write Access
	// Template is the file of assets/templates that defines "content".
	Template string
	// Handler serves the page (GET and POST).
	Handler func(c *Context)
}

// navParent is the path of the page whose navigation entry this page is
// under ("/receive/edit" is under "/receive").
func (p *page) navParent() string {
	if i := strings.LastIndex(p.Path, "/"); i > 0 {
		return p.Path[:i]
	}
	return p.Path
}

// pages lists every page; a file of pages adds one line here.
func (s *Server) allPages() []Page {
	var out []Page
	out = append(out, dashboardPages()...) // issue 15: the landing page, first in the navigation
	out = append(out, receivePages()...)
	out = append(out, auditPages()...)
	// web-a: send connectors, certificates, accepted domains, mailboxes.
	out = append(out, sendPages()...)
	out = append(out, certificatePages()...)
	out = append(out, domainPages()...)
	out = append(out, mailboxPages()...)
	out = append(out, queuePages()...) // issue 15: queue viewer, message trace
	out = append(out, tracePages()...)
	return out
}

// NavItem is one navigation entry.
type NavItem struct {
	Title, URL string
	Current    bool
}

// NavSection is a group of navigation entries.
type NavSection struct {
	Name  string
	Items []NavItem
}

// View is what a page template gets.
type View struct {
	Title    string
	Prefix   string
	User     string
	Groups   []string
	CSRF     string
	Nav      []NavSection
	CanWrite bool
	// Results are the outcomes of the change just made (after a redirect).
	Results []Result
	// Logged is the session's command log, newest first.
	Logged []Logged
	// Data is what the handler passed to Render.
	Data any
}

// Context is one request to a page.
type Context struct {
	W http.ResponseWriter
	R *http.Request
	// User is the signed-in mailbox's name, Groups its role groups.
	User   string
	Groups []string

	srv     *Server
	sess    *session
	page    *page
	prefix  string
	results []Result
}

// Posted reports whether the request is a POST (already checked for CSRF
// and the page's Write access).
func (c *Context) Posted() bool { return c.R.Method == http.MethodPost }

// Form returns a form value, trimmed.
func (c *Context) Form(name string) string { return strings.TrimSpace(c.R.FormValue(name)) }

// FormList returns the values of a multi-valued form field (checkboxes).
func (c *Context) FormList(name string) []string {
	_ = c.R.ParseForm()
	return c.R.Form[name]
}

// URL returns the absolute path of a page path ("/receive").
func (c *Context) URL(path string) string { return c.prefix + path }

// Can reports whether the user has access a.
func (c *Context) Can(a Access) bool { return a.allows(c.Groups) }

// Manager returns a configuration manager for reads the registry has no
// Get- command for.
func (c *Context) Manager() *manage.Manager {
	return &manage.Manager{ConfigPath: c.srv.opt.ConfigPath}
}

// Render shows the page's template with data.
func (c *Context) Render(data any) {
	c.srv.render(c.W, c.page.tmpl, c.view(data))
}

// Error shows err on the page instead of its content.
func (c *Context) Error(status int, err error) {
	c.W.WriteHeader(status)
	c.srv.render(c.W, c.page.tmpl, c.view(map[string]any{"PageError": err.Error()}))
}

func (c *Context) view(data any) View {
	v := View{Title: c.page.Title, Prefix: c.prefix, User: c.User, Groups: c.Groups, CSRF: c.sess.csrf,
		CanWrite: c.page.Write.allows(c.Groups), Results: c.results, Logged: c.srv.sessions.logged(c.sess), Data: data}
	for _, p := range c.srv.pages {
		if p.Nav == "" || !p.Read.allows(c.Groups) {
			continue
		}
		i := slices.IndexFunc(v.Nav, func(n NavSection) bool { return n.Name == p.Section })
		if i < 0 {
			v.Nav = append(v.Nav, NavSection{Name: p.Section})
			i = len(v.Nav) - 1
		}
		v.Nav[i].Items = append(v.Nav[i].Items, NavItem{Title: p.Nav, URL: c.prefix + p.Path, Current: p == c.page || p.Path == c.page.navParent()})
	}
	return v
}

// Redirect sends the browser to path (303, after a POST) and shows the
// results there.
func (c *Context) Redirect(path string, results ...Result) {
	c.srv.sessions.flash(c.sess, results)
	http.Redirect(c.W, c.R, c.prefix+path, http.StatusSeeOther)
}

// Show renders data with results on the same request (a form with an
// error is shown again with what the admin typed).
func (c *Context) Show(data any, results ...Result) {
	c.results = append(c.results, results...)
	c.Render(data)
}

func (s *Server) render(w http.ResponseWriter, t *template.Template, v any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.opt.Log.Error("admin center page", "err", err)
		http.Error(w, "the page could not be shown: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func (s *Server) idle() time.Duration {
	n := manage.DefaultSessionTimeoutMinutes
	if cfg := s.opt.Config(); cfg != nil && cfg.AdminCenter.SessionTimeoutMinutes > 0 {
		n = cfg.AdminCenter.SessionTimeoutMinutes
	}
	return time.Duration(n) * time.Minute
}

// groupsOf returns the role groups of the mailbox user in the
// configuration in force: a member removed loses access at once.
func (s *Server) groupsOf(user string) []string {
	cfg := s.opt.Config()
	if cfg == nil {
		return nil
	}
	return cfg.AdminCenter.GroupsOf(user)
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request, p *page, prefix string) {
	sess := s.sessions.get(r, s.idle())
	if sess == nil {
		if r.Method == http.MethodPost {
			http.Error(w, "Your session has ended: sign in again.", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, prefix+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	groups := s.groupsOf(sess.user)
	if len(groups) == 0 {
		s.sessions.remove(sess.id)
		http.Error(w, "Your mailbox is no longer a member of an admin role group.", http.StatusForbidden)
		return
	}
	if !p.Read.allows(groups) {
		http.Error(w, "Your role groups ("+strings.Join(groups, ", ")+") do not give access to this page.", http.StatusForbidden)
		return
	}
	c := &Context{W: w, R: r, User: sess.user, Groups: groups, srv: s, sess: sess, page: p, prefix: prefix}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		c.results = s.sessions.takeFlash(sess)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if !sameOrigin(r) {
			s.opt.Log.Warn("admin center: a cross-site POST refused", "user", sess.user, "origin", r.Header.Get("Origin"), "fetch_site", r.Header.Get("Sec-Fetch-Site"))
			http.Error(w, "Refused: this form was not sent from the admin center's own page.", http.StatusForbidden)
			return
		}
		if !equalTokens(sess.csrf, r.PostFormValue("csrf")) {
			s.opt.Log.Warn("admin center: a POST without the session's CSRF token refused", "user", sess.user, "path", r.URL.Path)
			http.Error(w, "Refused: the form's security token is missing or wrong. Reload the page and try again.", http.StatusForbidden)
			return
		}
		if !p.Write.allows(groups) {
			http.Error(w, "Your role groups ("+strings.Join(groups, ", ")+") may not change this.", http.StatusForbidden)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.Handler(c)
}

// clientIP is the remote address of r.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type signInData struct {
	Next, User, Error, Token string
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request, prefix string) {
	next := r.FormValue("next")
	if !strings.HasPrefix(next, prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		next = prefix + "/"
	}
	show := func(status int, d signInData) {
		d.Next = next
		d.Token = randomToken()
		setCookie(w, signInCookieName, d.Token, 600)
		w.WriteHeader(status)
		s.render(w, s.signIn, View{Title: "Sign in", Prefix: prefix, Data: d})
	}
	if r.Method != http.MethodPost {
		show(http.StatusOK, signInData{})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(signInCookieName)
	if !sameOrigin(r) || err != nil || !equalTokens(ck.Value, r.PostFormValue("csrf")) {
		show(http.StatusForbidden, signInData{Error: "The sign-in form was not sent from this page (or it is too old). Try again."})
		return
	}
	user, pass := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	ip := clientIP(r)
	src, _ := netip.ParseAddr(ip)
	att, block := s.opt.Lockout.Begin(src.Unmap(), user)
	if block != nil {
		s.opt.Log.Warn("admin center sign-in refused: locked out", "user", user, "ip", ip, "until", block.Until)
		show(http.StatusTooManyRequests, signInData{User: user, Error: "Too many failed sign-ins: try again after " + block.Until.Local().Format("15:04:05") + "."})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	addr, err := s.opt.Authenticate(ctx, user, pass)
	var name string
	if err == nil {
		if cfg := s.opt.Config(); cfg != nil {
			if mb := cfg.FindMailbox(addr); mb != nil {
				name = mb.Name
			}
		}
	}
	if err != nil || name == "" {
		if ctx.Err() != nil {
			att.Abandon()
		} else {
			att.Failed()
		}
		s.opt.Log.Warn("admin center sign-in failed", "user", user, "ip", ip, "err", errOr(err, "no mailbox"))
		show(http.StatusUnauthorized, signInData{User: user, Error: "The user name or password is wrong."})
		return
	}
	att.Succeeded()
	groups := s.groupsOf(name)
	if len(groups) == 0 {
		s.opt.Log.Warn("admin center sign-in refused: no role group", "user", name, "ip", ip)
		show(http.StatusForbidden, signInData{User: user, Error: "This mailbox is not a member of an admin role group. An admin can add it: Add-RoleGroupMember \"Organization Management\" -Member " + name})
		return
	}
	sess := s.sessions.create(name, addr, ip)
	setCookie(w, cookieName, sess.id, 0)
	setCookie(w, signInCookieName, "", -1)
	s.opt.Log.Info("admin center sign-in", "user", name, "ip", ip, "groups", groups)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request, prefix string) {
	if r.Method != http.MethodPost {
		http.Redirect(w, r, prefix+"/", http.StatusSeeOther)
		return
	}
	sess := s.sessions.get(r, s.idle())
	if sess != nil && sameOrigin(r) && equalTokens(sess.csrf, r.PostFormValue("csrf")) {
		s.sessions.remove(sess.id)
	}
	setCookie(w, cookieName, "", -1)
	http.Redirect(w, r, prefix+"/signin", http.StatusSeeOther)
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"field": func(r manage.Record, name string) string {
		v, _ := r.Get(name)
		return v
	},
	"hasWarning": func(s string) bool { return strings.HasPrefix(s, "WARNING") },
	"time":       func(t time.Time) string { return t.Local().Format("15:04:05") },
	"contains": func(list []string, s string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
	},
	"lines": func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(strings.TrimRight(s, "\n"), "\n")
	},
}

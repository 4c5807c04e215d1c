// Package control is the web Control Center of the local city: operators sign in, see the
// devices by district and class with their latest state, the processor's counts, the
// quarantine group and recent commands, and switch street lights. It reads and commands
// through a Backend, so the same pages can be pointed at a deployed stage's command API.
package control

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Backend is what the Control Center reads and commands through.
type Backend interface {
	// Snapshot returns what the page shows.
	Snapshot(ctx context.Context) (Snapshot, error)
	// SetLight sends set-light to a street light on behalf of operator.
	SetLight(ctx context.Context, operator, thing string, on bool) (CommandResult, error)
}

// Snapshot is the page's data.
type Snapshot struct {
	Districts []Named
	Classes   []Named
	Devices   []Device
	Counts    Counts
	// Quarantined lists the members of the quarantine thing group.
	Quarantined []string
	// Commands are recent command requests from the audit table, newest first.
	Commands []CommandRecord
}

// Named is an id with its display name.
type Named struct{ ID, Name string }

// Device is one thing with its latest state.
type Device struct {
	Thing, Class, District string
	// Declared is true when the fleet file names it; false for things provisioned at run time.
	Declared bool
	// State holds the latest telemetry fields (sensitive ones are left out); nil before the
	// first accepted message.
	State map[string]any
	// LastSeen is the rule's receivedAt of the latest state; zero before the first message.
	LastSeen    time.Time
	Quarantined bool
}

// Counts are the telemetry processor's counts.
type Counts struct {
	Received, Accepted, Rejected, Duplicates int
	RejectedByReason                         map[string]int
}

// CommandRecord is one audited command request.
type CommandRecord struct {
	RequestedAt                    time.Time
	Thing, Command, Params, Caller string
	Outcome, Reason                string
	Status                         int
}

// CommandResult is the command API's answer to one request.
type CommandResult struct {
	Status    int
	CommandID string
	Outcome   string
	Message   string
}

// Config configures a Server.
type Config struct {
	Backend   Backend
	Operators []Operator
	// StreetLightClass is the class whose devices get a switch. Default: "street_light".
	StreetLightClass string
	Logger           *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Server serves the Control Center. It must be served over HTTPS: its cookies are Secure.
type Server struct {
	cfg   Config
	auth  *auth
	tmpl  *template.Template
	mux   *http.ServeMux
	light string
}

// Cookie names. The __Host- prefix makes browsers accept them only over HTTPS, from this
// host, for path "/", so no other site or sub-domain can set or read them.
const (
	sessionCookie = "__Host-city-session"
	loginCookie   = "__Host-city-login"
)

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("control: no backend")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StreetLightClass == "" {
		cfg.StreetLightClass = "street_light"
	}
	a, err := newAuth(cfg.Operators, cfg.Now)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"since":  func(t time.Time) string { return since(cfg.Now(), t) },
		"value":  formatValue,
		"fields": sortedKeys,
		"light":  lightState,
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, auth: a, tmpl: tmpl, mux: http.NewServeMux(), light: cfg.StreetLightClass}
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.requireSession(s.logout))
	s.mux.HandleFunc("GET /{$}", s.requireSession(s.page))
	s.mux.HandleFunc("GET /view", s.requireSession(s.view))
	s.mux.HandleFunc("POST /devices/{thing}/light", s.requireSession(s.setLight))
	return s, nil
}

// ServeHTTP sets the security headers on every answer, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style anywhere: the page's JavaScript and CSS are files from here.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// Not no-referrer: under it browsers send "Origin: null" even on same-origin form posts,
	// which the origin check below must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost {
		if !s.sameOrigin(r) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		// Every form here is a few short fields.
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
	}
	s.mux.ServeHTTP(w, r)
}

// sameOrigin checks Origin (or, without it, Referer) against the request's own host: a
// browser always sends Origin on a cross-site POST, so a forged form post fails here even
// before the CSRF token is checked.
func (s *Server) sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		// Neither header: not a browser's cross-site request; the CSRF token still applies.
		return true
	}
	u, err := url.Parse(src)
	return err == nil && u.Scheme == "https" && u.Host == r.Host
}

func (s *Server) requireSession(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie(sessionCookie)
		var id string
		if c != nil {
			id = c.Value
		}
		sess, ok := s.auth.lookup(id)
		if !ok {
			if r.Method == http.MethodGet && r.URL.Path == "/" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !tokensEqual(csrfToken(r), sess.csrf) {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		next(w, r, sess)
	}
}

// csrfToken reads the token from the header fetch sends or the form field a plain form sends.
func csrfToken(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	return r.PostFormValue("csrf")
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) loginPage(w http.ResponseWriter, _ *http.Request) {
	s.renderLogin(w, http.StatusOK, "")
}

// renderLogin issues a fresh login CSRF token (double submit: cookie and form field must
// match), so no other site can sign a browser in as someone else.
func (s *Server) renderLogin(w http.ResponseWriter, status int, msg string) {
	token := randomToken()
	setCookie(w, loginCookie, token, 600)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.tmpl.ExecuteTemplate(w, "login.html", map[string]any{"CSRF": token, "Error": msg}); err != nil {
		s.cfg.Logger.Error("render login", "error", err)
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Cookie(loginCookie)
	if c == nil || !tokensEqual(r.PostFormValue("csrf"), c.Value) {
		s.renderLogin(w, http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	id, err := s.auth.signIn(name, r.PostFormValue("password"))
	if err != nil {
		s.cfg.Logger.Warn("sign-in failed", "operator", truncate(name, 64), "remote", r.RemoteAddr, "error", err)
		msg := "Wrong name or password."
		if errors.Is(err, errLocked) {
			msg = "Too many failed sign-ins. Wait a minute and try again."
		}
		s.renderLogin(w, http.StatusUnauthorized, msg)
		return
	}
	s.cfg.Logger.Info("signed in", "operator", name, "remote", r.RemoteAddr)
	setCookie(w, loginCookie, "", -1)
	setCookie(w, sessionCookie, id, int(sessionMax/time.Second))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if c, _ := r.Cookie(sessionCookie); c != nil {
		s.auth.signOut(c.Value)
	}
	setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// viewData is what the templates render.
type viewData struct {
	Operator  Operator
	CSRF      string
	Snapshot  Snapshot
	Groups    []districtGroup
	Reasons   []reasonCount
	Light     string
	Error     string
	Generated time.Time
}

type districtGroup struct {
	District Named
	Classes  []classGroup
}

type classGroup struct {
	Class   Named
	Devices []Device
}

type reasonCount struct {
	Reason string
	Count  int
}

func (s *Server) data(ctx context.Context, sess *session) viewData {
	d := viewData{Operator: sess.op, CSRF: sess.csrf, Light: s.light, Generated: s.cfg.Now()}
	snap, err := s.cfg.Backend.Snapshot(ctx)
	if err != nil {
		s.cfg.Logger.Error("snapshot", "error", err)
		d.Error = "Could not read the city's state; retrying."
	}
	// Out-of-scope devices and their commands are not shown at all.
	devices := snap.Devices[:0:0]
	for _, dev := range snap.Devices {
		if sess.op.InScope(dev.District) {
			devices = append(devices, dev)
		}
	}
	snap.Devices = devices
	d.Snapshot = snap
	for _, dist := range snap.Districts {
		if !sess.op.InScope(dist.ID) {
			continue
		}
		g := districtGroup{District: dist}
		for _, c := range snap.Classes {
			cg := classGroup{Class: c}
			for _, dev := range devices {
				if dev.District == dist.ID && dev.Class == c.ID {
					cg.Devices = append(cg.Devices, dev)
				}
			}
			if len(cg.Devices) > 0 {
				g.Classes = append(g.Classes, cg)
			}
		}
		d.Groups = append(d.Groups, g)
	}
	for r, n := range snap.Counts.RejectedByReason {
		d.Reasons = append(d.Reasons, reasonCount{r, n})
	}
	sort.Slice(d.Reasons, func(i, j int) bool { return d.Reasons[i].Reason < d.Reasons[j].Reason })
	return d
}

func (s *Server) page(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, "page.html", s.data(r.Context(), sess))
}

// view is the live part of the page, fetched again every few seconds by app.js.
func (s *Server) view(w http.ResponseWriter, r *http.Request, sess *session) {
	s.render(w, "view.html", s.data(r.Context(), sess))
}

func (s *Server) render(w http.ResponseWriter, name string, d viewData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.tmpl.ExecuteTemplate(w, name, d); err != nil {
		s.cfg.Logger.Error("render", "template", name, "error", err)
	}
}

func (s *Server) setLight(w http.ResponseWriter, r *http.Request, sess *session) {
	thing := r.PathValue("thing")
	on := r.PostFormValue("on")
	if on != "true" && on != "false" {
		http.Error(w, `form field "on" must be "true" or "false"`, http.StatusBadRequest)
		return
	}
	snap, err := s.cfg.Backend.Snapshot(r.Context())
	if err != nil {
		http.Error(w, "could not read the registry, try again", http.StatusBadGateway)
		return
	}
	var dev *Device
	for i := range snap.Devices {
		if snap.Devices[i].Thing == thing {
			dev = &snap.Devices[i]
		}
	}
	// An unknown thing and one out of scope get the same answer, so scope does not leak.
	if dev == nil || !sess.op.InScope(dev.District) || dev.Class != s.light {
		http.Error(w, "no such street light", http.StatusNotFound)
		return
	}
	if !sess.op.CanCommand(dev.District) {
		http.Error(w, "your role may not send commands", http.StatusForbidden)
		return
	}
	res, err := s.cfg.Backend.SetLight(r.Context(), sess.op.Name, thing, on == "true")
	if err != nil {
		s.cfg.Logger.Error("set-light", "thing", thing, "operator", sess.op.Name, "error", err)
		http.Error(w, "the command API could not be reached", http.StatusBadGateway)
		return
	}
	s.cfg.Logger.Info("set-light", "thing", thing, "on", on, "operator", sess.op.Name, "status", res.Status, "commandId", res.CommandID)
	if r.Header.Get("X-CSRF-Token") == "" {
		// A plain form post (no JavaScript): back to the page.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if res.Status >= 300 {
		w.WriteHeader(res.Status)
		_, _ = w.Write([]byte(res.Message))
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("sent " + res.CommandID))
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

func formatValue(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		return strings.TrimSuffix(strings.TrimRight(strings.TrimRight(strconvFloat(x), "0"), "."), ".")
	case nil:
		return "-"
	default:
		return truncate(strings.TrimSpace(toString(v)), 64)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// lightState reads a street light's reported "on" field: "on", "off" or "unknown".
func lightState(state map[string]any) string {
	switch state["on"] {
	case true:
		return "on"
	case false:
		return "off"
	}
	return "unknown"
}

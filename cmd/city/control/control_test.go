package control

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// fakeBackend records SetLight calls and serves a fixed snapshot.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string
	snap  Snapshot
}

func (f *fakeBackend) Snapshot(context.Context) (Snapshot, error) { return f.snap, nil }

func (f *fakeBackend) SetLight(_ context.Context, operator, thing string, on bool) (CommandResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, operator+" "+thing+" "+map[bool]string{true: "on", false: "off"}[on])
	return CommandResult{Status: 202, CommandID: "c-1", Outcome: "accepted"}, nil
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

const password = "correct horse battery staple"

func operator(t *testing.T, name, role string, districts ...string) Operator {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost+6) // 10: DefaultCost, fast enough
	if err != nil {
		t.Fatal(err)
	}
	return Operator{Name: name, PasswordHash: string(h), Role: role, Districts: districts}
}

func newServer(t *testing.T, ops ...Operator) (*httptest.Server, *fakeBackend) {
	t.Helper()
	b := &fakeBackend{snap: Snapshot{
		Districts: []Named{{"old_town", "Old Town"}, {"harbour", "Harbour"}},
		Classes:   []Named{{"street_light", "Street light"}},
		Devices: []Device{
			{Thing: "sl-old-town-001", Class: "street_light", District: "old_town", Declared: true, State: map[string]any{"on": false, "label": "<script>alert(1)</script>"}},
			{Thing: "sl-harbour-001", Class: "street_light", District: "harbour", State: map[string]any{"on": true}},
		},
		Commands: []CommandRecord{{Thing: "sl-old-town-001", Command: "set-light", Caller: `"><img src=x onerror=alert(1)>`, Outcome: "accepted", Status: 202}},
	}}
	s, err := New(Config{Backend: b, Operators: ops, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(s)
	t.Cleanup(ts.Close)
	return ts, b
}

// browser is an HTTPS client with a cookie jar that sends Origin like a browser.
type browser struct {
	t      *testing.T
	c      *http.Client
	origin string
}

func newBrowser(t *testing.T, ts *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	c := ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, c: c, origin: ts.URL}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.origin + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values, headers map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.origin+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) signIn(name, pw string) string {
	b.t.Helper()
	_, page := b.get("/login")
	m := hiddenCSRF.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF field on the sign-in page:\n%s", page)
	}
	resp, _ := b.post("/login", url.Values{"csrf": {m[1]}, "name": {name}, "password": {pw}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d", name, resp.StatusCode)
	}
	_, page = b.get("/")
	m = hiddenCSRF.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page after sign-in:\n%s", page)
	}
	return m[1]
}

func TestNoAnonymousAccess(t *testing.T) {
	ts, b := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	resp, _ := br.get("/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET / anonymously: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := br.get("/view"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /view anonymously: %d, want 401", resp.StatusCode)
	}
	if resp, _ := br.post("/devices/sl-old-town-001/light", url.Values{"on": {"true"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST light anonymously: %d, want 401", resp.StatusCode)
	}
	if len(b.Calls()) != 0 {
		t.Errorf("commands sent anonymously: %v", b.Calls())
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	ts, _ := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	for _, path := range []string{"/login", "/", "/view", "/static/app.js", "/nope"} {
		resp, _ := br.get(path)
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
}

func TestSessionCookieIsSecureHttpOnlySameSiteStrict(t *testing.T) {
	ts, _ := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	_, page := br.get("/login")
	token := hiddenCSRF.FindStringSubmatch(page)[1]
	resp, _ := br.post("/login", url.Values{"csrf": {token}, "name": {"alice"}, "password": {password}}, nil)
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name != sessionCookie || c.Value == "" {
			continue
		}
		found = true
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict, Path=/, no Domain", c)
		}
		if !strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("session cookie %s lacks the __Host- prefix", c.Name)
		}
	}
	if !found {
		t.Fatal("no session cookie after sign-in")
	}
}

func TestSignInRefusesWrongPasswordAndForgedForm(t *testing.T) {
	ts, _ := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	_, page := br.get("/login")
	token := hiddenCSRF.FindStringSubmatch(page)[1]
	if resp, _ := br.post("/login", url.Values{"csrf": {token}, "name": {"alice"}, "password": {"wrong"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
	// Each answer issues a new form token.
	_, page = br.get("/login")
	token = hiddenCSRF.FindStringSubmatch(page)[1]
	if resp, _ := br.post("/login", url.Values{"csrf": {token}, "name": {"mallory"}, "password": {password}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown operator: %d, want 401", resp.StatusCode)
	}
	// Login CSRF: a form posted from elsewhere has no matching token cookie.
	other := newBrowser(t, ts)
	if resp, _ := other.post("/login", url.Values{"csrf": {token}, "name": {"alice"}, "password": {password}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's cookie: %d, want 403", resp.StatusCode)
	}
}

func TestSignInLocksAfterRepeatedFailures(t *testing.T) {
	ts, _ := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	try := func(pw string) int {
		_, page := br.get("/login")
		token := hiddenCSRF.FindStringSubmatch(page)[1]
		resp, _ := br.post("/login", url.Values{"csrf": {token}, "name": {"alice"}, "password": {pw}}, nil)
		return resp.StatusCode
	}
	for range maxFailures {
		try("wrong")
	}
	if got := try(password); got != http.StatusUnauthorized {
		t.Errorf("right password after %d failures: %d, want 401 (locked)", maxFailures, got)
	}
}

func TestStateChangingRequestsNeedCSRFToken(t *testing.T) {
	ts, b := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	token := br.signIn("alice", password)

	if resp, _ := br.post("/devices/sl-old-town-001/light", url.Values{"on": {"true"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := br.post("/devices/sl-old-town-001/light", url.Values{"on": {"true"}, "csrf": {token + "x"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := br.post("/devices/sl-old-town-001/light", url.Values{"on": {"true"}, "csrf": {token}}, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin with the token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := br.post("/logout", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without token: %d, want 403", resp.StatusCode)
	}
	if len(b.Calls()) != 0 {
		t.Fatalf("commands sent without a valid token: %v", b.Calls())
	}
	resp, body := br.post("/devices/sl-old-town-001/light", url.Values{"on": {"true"}}, map[string]string{"X-CSRF-Token": token})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("with the token: %d %s", resp.StatusCode, body)
	}
	if got := b.Calls(); len(got) != 1 || got[0] != "alice sl-old-town-001 on" {
		t.Errorf("calls %v", got)
	}
}

func TestRoleAndDistrictScope(t *testing.T) {
	ts, b := newServer(t, operator(t, "victor", RoleViewer), operator(t, "olga", RoleOperator, "old_town"))
	viewer := newBrowser(t, ts)
	token := viewer.signIn("victor", password)
	_, page := viewer.get("/")
	if strings.Contains(page, `class="switch"`) {
		t.Error("a viewer's page has light switches")
	}
	if resp, _ := viewer.post("/devices/sl-old-town-001/light", url.Values{"on": {"true"}, "csrf": {token}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer switching a light: %d, want 403", resp.StatusCode)
	}

	scoped := newBrowser(t, ts)
	token = scoped.signIn("olga", password)
	_, page = scoped.get("/")
	if strings.Contains(page, "sl-harbour-001") {
		t.Error("an old_town operator sees a harbour device")
	}
	if resp, _ := scoped.post("/devices/sl-harbour-001/light", url.Values{"on": {"true"}, "csrf": {token}}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("out-of-scope light: %d, want 404", resp.StatusCode)
	}
	if resp, _ := scoped.post("/devices/sl-old-town-001/light", url.Values{"on": {"maybe"}, "csrf": {token}}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf(`on=maybe: %d, want 400`, resp.StatusCode)
	}
	if len(b.Calls()) != 0 {
		t.Errorf("commands sent out of role or scope: %v", b.Calls())
	}
}

func TestPageEscapesDeviceData(t *testing.T) {
	ts, _ := newServer(t, operator(t, "alice", RoleOperator))
	br := newBrowser(t, ts)
	br.signIn("alice", password)
	_, page := br.get("/")
	for _, raw := range []string{"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`} {
		if strings.Contains(page, raw) {
			t.Errorf("page holds %q unescaped", raw)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Error("escaped state value missing from the page")
	}
	if strings.Contains(page, "<script>") && !strings.Contains(page, `<script src="/static/app.js" defer></script>`) {
		t.Error("page has an inline script")
	}
}

func TestSessionExpires(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	a, err := newAuth([]Operator{operator(t, "alice", RoleOperator)}, clock)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.signIn("alice", password)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(sessionIdle + time.Second)
	if _, ok := a.lookup(id); ok {
		t.Errorf("session alive after %v idle", sessionIdle)
	}
}

func TestValidateOperators(t *testing.T) {
	weak, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	err := ValidateOperators([]Operator{
		{Name: "Bad Name", PasswordHash: "plaintext", Role: "admin"},
		{Name: "bob", PasswordHash: string(weak), Role: RoleViewer},
	})
	if err == nil {
		t.Fatal("bad operators accepted")
	}
	for _, want := range []string{`operators[0].name: "Bad Name"`, "operators[0].passwordHash: not a bcrypt hash", `operators[0].role: "admin"`, "operators[1].passwordHash: bcrypt cost 4 is below 10"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := ValidateOperators(nil); err == nil {
		t.Error("an empty operator list is accepted")
	}
	if _, err := New(Config{Backend: &fakeBackend{}}); err == nil {
		t.Error("a server with no operators starts")
	}
}

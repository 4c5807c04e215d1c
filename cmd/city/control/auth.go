package control

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Roles an operator may hold.
const (
	// RoleOperator may read everything in scope and send commands to devices in scope.
	RoleOperator = "operator"
	// RoleViewer may read, never command.
	RoleViewer = "viewer"
)

// Session lifetimes: an idle session ends after sessionIdle, any session after sessionMax.
const (
	sessionIdle = 30 * time.Minute
	sessionMax  = 8 * time.Hour
	// Failed sign-ins per operator name before it is locked for lockout.
	maxFailures = 5
	lockout     = time.Minute
	// bcryptCost for hashes made here; hashes in a file keep their own cost (at least
	// bcrypt.DefaultCost, checked on load).
	bcryptCost = 12
)

// Operator is one entry of the local operator list.
type Operator struct {
	Name string `json:"name"`
	// PasswordHash is a bcrypt hash ($2a$/$2b$, cost 10 or more). Never a password.
	PasswordHash string `json:"passwordHash"`
	Role         string `json:"role"`
	// FleetRole is the IAM operator role of the fleet file (fleetspec.Operator.Role) this
	// operator's commands are made as: the command API authorizes class, command and values
	// by that role, as it does for an assumed-role session in AWS. Default: the fleet's
	// operator role that may switch street lights (local.DefaultFleetRole).
	FleetRole string `json:"fleetRole,omitempty"`
	// Districts limits the operator to these district ids. Default: every district.
	Districts []string `json:"districts,omitempty"`
}

// InScope reports whether the operator may see or act on a thing of district.
func (o Operator) InScope(district string) bool {
	return len(o.Districts) == 0 || slices.Contains(o.Districts, district)
}

// CanCommand reports whether the operator may send a command to a thing of district.
func (o Operator) CanCommand(district string) bool {
	return o.Role == RoleOperator && o.InScope(district)
}

var operatorName = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// LoadOperators reads an operator list: {"operators": [Operator...]}. Every problem is
// reported with the file, the entry and the field.
func LoadOperators(path string) ([]Operator, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("operators file: %w", err)
	}
	var doc struct {
		Operators []Operator `json:"operators"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("operators file %s: %w", path, err)
	}
	if err := ValidateOperators(doc.Operators); err != nil {
		return nil, fmt.Errorf("operators file %s: %w", path, err)
	}
	return doc.Operators, nil
}

// ValidateOperators checks names, roles and hashes, and reports every problem at once.
func ValidateOperators(ops []Operator) error {
	var problems []string
	seen := map[string]bool{}
	if len(ops) == 0 {
		problems = append(problems, "operators: empty, no one could sign in")
	}
	for i, o := range ops {
		where := fmt.Sprintf("operators[%d]", i)
		if !operatorName.MatchString(o.Name) {
			problems = append(problems, fmt.Sprintf("%s.name: %q is not 1 to 64 of [a-z0-9._-] starting with a letter", where, o.Name))
		}
		if seen[o.Name] {
			problems = append(problems, fmt.Sprintf("%s.name: %q appears twice", where, o.Name))
		}
		seen[o.Name] = true
		if o.Role != RoleOperator && o.Role != RoleViewer {
			problems = append(problems, fmt.Sprintf("%s.role: %q, want %q or %q", where, o.Role, RoleOperator, RoleViewer))
		}
		cost, err := bcrypt.Cost([]byte(o.PasswordHash))
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s.passwordHash: not a bcrypt hash (%v)", where, err))
		case cost < bcrypt.DefaultCost:
			problems = append(problems, fmt.Sprintf("%s.passwordHash: bcrypt cost %d is below %d", where, cost, bcrypt.DefaultCost))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// GenerateOperator makes an operator with a random 20-character password, returned once to be
// shown to the person starting the city; only its hash is kept.
func GenerateOperator(name, role string) (Operator, string, error) {
	raw := make([]byte, 15)
	if _, err := rand.Read(raw); err != nil {
		return Operator{}, "", err
	}
	password := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return Operator{}, "", err
	}
	return Operator{Name: name, PasswordHash: string(hash), Role: role}, password, nil
}

// HashPassword hashes a password for an operators file.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	return string(h), err
}

type session struct {
	op       Operator
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// auth holds operators, sessions and sign-in throttling.
type auth struct {
	mu        sync.Mutex
	operators map[string]Operator
	sessions  map[string]*session
	failures  map[string][]time.Time
	now       func() time.Time
	// dummyHash keeps an unknown name as slow as a wrong password, so timing does not tell
	// which operator names exist.
	dummyHash []byte
}

func newAuth(ops []Operator, now func() time.Time) (*auth, error) {
	if err := ValidateOperators(ops); err != nil {
		return nil, err
	}
	a := &auth{operators: map[string]Operator{}, sessions: map[string]*session{}, failures: map[string][]time.Time{}, now: now}
	for _, o := range ops {
		a.operators[o.Name] = o
	}
	h, err := bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	a.dummyHash = h
	return a, nil
}

var errLocked = errors.New("too many failed sign-ins for this name, wait a minute")

// signIn checks a name and password and opens a session; it returns the session id.
func (a *auth) signIn(name, password string) (string, error) {
	now := a.now()
	a.mu.Lock()
	recent := a.failures[name][:0]
	for _, t := range a.failures[name] {
		if now.Sub(t) < lockout {
			recent = append(recent, t)
		}
	}
	a.failures[name] = recent
	locked := len(recent) >= maxFailures
	op, known := a.operators[name]
	a.mu.Unlock()
	if locked {
		return "", errLocked
	}
	hash := a.dummyHash
	if known {
		hash = []byte(op.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !known {
		a.mu.Lock()
		if len(a.failures) > 10000 {
			// Bounded memory against a flood of made-up names.
			a.failures = map[string][]time.Time{}
		}
		a.failures[name] = append(a.failures[name], now)
		a.mu.Unlock()
		return "", errors.New("wrong name or password")
	}
	id, csrf := randomToken(), randomToken()
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.failures, name)
	a.sessions[id] = &session{op: op, csrf: csrf, created: now, lastSeen: now}
	return id, nil
}

// lookup returns a live session and extends its idle time.
func (a *auth) lookup(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[id]
	if !ok {
		return nil, false
	}
	if now.Sub(s.lastSeen) > sessionIdle || now.Sub(s.created) > sessionMax {
		delete(a.sessions, id)
		return nil, false
	}
	s.lastSeen = now
	cp := *s
	return &cp, true
}

func (a *auth) signOut(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, id)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokensEqual(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

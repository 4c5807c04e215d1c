package policies

import (
	"strings"
	"unicode/utf8"
)

// Policy variables the checks and the evaluator understand. Variable names are compared
// case-insensitively, as IAM does.
const (
	varThingName = "iot:Connection.Thing.ThingName"
	varThingType = "iot:Connection.Thing.ThingTypeName"
	varClientID  = "iot:ClientId"
	// varAttributePrefix starts ${iot:Connection.Thing.Attributes[<name>]}.
	varAttributePrefix = "iot:Connection.Thing.Attributes["
	// varThingPrefix is the namespace of the thing policy variables.
	varThingPrefix = "iot:Connection.Thing."
	varIsAttached  = "iot:Connection.Thing.IsAttached"
)

type tokKind int

const (
	tokLit   tokKind = iota // literal text
	tokStar                 // IoT "*": any run of characters, across topic levels
	tokQmark                // IoT "?": any one character
	tokVar                  // ${name}: a policy variable
	tokMQTT                 // "+" or "#" in a topic filter: the client's own MQTT wildcard
)

type token struct {
	kind tokKind
	text string // literal text or variable name
}

// tokenize splits a resource pattern into literal text, IoT wildcards and policy variables.
// The special variables ${*}, ${?} and ${$} are literal characters. With mqtt set (topic
// filters), "+" and "#" become tokMQTT: a policy matches them literally, but the client that
// subscribes with them receives every matching topic.
func tokenize(s string, mqtt bool) []token {
	var toks []token
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{tokLit, lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '$' && strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				lit.WriteString(s[i:])
				i = len(s)
				continue
			}
			name := s[i+2 : i+end]
			i += end + 1
			switch name {
			case "*", "?", "$":
				lit.WriteString(name)
			default:
				flush()
				toks = append(toks, token{tokVar, name})
			}
		case c == '*':
			flush()
			toks = append(toks, token{tokStar, "*"})
			i++
		case c == '?':
			flush()
			toks = append(toks, token{tokQmark, "?"})
			i++
		case mqtt && (c == '+' || c == '#'):
			flush()
			toks = append(toks, token{tokMQTT, string(c)})
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return toks
}

func isThingNameVar(t token) bool { return t.kind == tokVar && strings.EqualFold(t.text, varThingName) }

func isClientIDVar(t token) bool { return t.kind == tokVar && strings.EqualFold(t.text, varClientID) }

func isThingTypeVar(t token) bool { return t.kind == tokVar && strings.EqualFold(t.text, varThingType) }

// attributeName returns the attribute a ${iot:Connection.Thing.Attributes[<name>]} token
// names, and false for any other token or a malformed name. The prefix is compared
// case-insensitively like every variable name; the attribute name exactly, because attribute
// names are case-sensitive in the registry (AWS does not document how the variable compares
// them, so the model resolves only the exact name: an Allow then grants less, never more).
func attributeName(t token) (string, bool) {
	if t.kind != tokVar || len(t.text) <= len(varAttributePrefix) ||
		!strings.EqualFold(t.text[:len(varAttributePrefix)], varAttributePrefix) || !strings.HasSuffix(t.text, "]") {
		return "", false
	}
	name := t.text[len(varAttributePrefix) : len(t.text)-1]
	if !validAttributeName(name) {
		return "", false
	}
	return name, true
}

// validAttributeName reports whether name fits the registry's attribute name pattern
// ([a-zA-Z0-9_.,@/:#-]+, at most 128 characters).
func validAttributeName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, c := range name {
		if !(isThingNameChar(c) || strings.ContainsRune(".,@/#", c)) {
			return false
		}
	}
	return true
}

// isGroupVar reports whether t is a thing policy variable that many things share a value of:
// the thing type or an attribute (every street light of the city has the same thing type,
// every device of a district the same district attribute). A resource named by these alone is
// shared by that whole group.
func isGroupVar(t token) bool {
	_, attr := attributeName(t)
	return attr || isThingTypeVar(t)
}

// isUnknownThingVar reports whether t is in the thing policy variables' namespace
// (iot:Connection.Thing.) without being one of them: a misspelling that never resolves.
func isUnknownThingVar(t token) bool {
	if t.kind != tokVar || len(t.text) < len(varThingPrefix) || !strings.EqualFold(t.text[:len(varThingPrefix)], varThingPrefix) {
		return false
	}
	return !isThingNameVar(t) && !isGroupVar(t) && !strings.EqualFold(t.text, varIsAttached)
}

// ownsLevel reports whether toks[i] is the thing-name variable filling a whole level: it
// starts the pattern or follows a "/", and ends it or precedes a "/". A resource that holds
// the connected thing's name as a whole level names that thing's resources only; one that
// holds it inside a level ("a-${thing}") can collide with another thing's
// ("a-b" + "-c" and "a" + "-b-c").
func ownsLevel(toks []token, i int) bool {
	if !isThingNameVar(toks[i]) {
		return false
	}
	start := i == 0 || (toks[i-1].kind == tokLit && strings.HasSuffix(toks[i-1].text, "/"))
	end := i+1 == len(toks) || (toks[i+1].kind == tokLit && strings.HasPrefix(toks[i+1].text, "/"))
	return start && end
}

// isOpen reports whether a token lets a pattern reach names the policy does not fix: an IoT
// wildcard, an MQTT wildcard in a topic filter, or ${iot:ClientId}, which the client chooses
// (AWS documents a client that connects as "+" to subscribe to my/+/topic).
func isOpen(t token) bool {
	return t.kind == tokStar || t.kind == tokQmark || t.kind == tokMQTT || isClientIDVar(t)
}

// firstOpen is the index of the first open token, or -1.
func firstOpen(toks []token) int {
	for i, t := range toks {
		if isOpen(t) {
			return i
		}
	}
	return -1
}

// literalPrefix is the literal text before toks[end] and whether no variable precedes it.
func literalPrefix(toks []token, end int) (string, bool) {
	var b strings.Builder
	for _, t := range toks[:end] {
		if t.kind != tokLit {
			return b.String(), false
		}
		b.WriteString(t.text)
	}
	return b.String(), true
}

// scopedByThing reports whether the connected thing's name, as a whole topic level, comes
// before toks[open]: then whatever the wildcard matches lies under the device's own name.
func scopedByThing(toks []token, open int) bool {
	for i := 0; i < open; i++ {
		if !isThingNameVar(toks[i]) {
			continue
		}
		levelStart := i == 0 || (toks[i-1].kind == tokLit && strings.HasSuffix(toks[i-1].text, "/"))
		levelEnd := i+1 < len(toks) && toks[i+1].kind == tokLit && strings.HasPrefix(toks[i+1].text, "/")
		if levelStart && levelEnd {
			return true
		}
	}
	return false
}

// isThingNameChar reports whether c may occur in an AWS IoT thing name ([a-zA-Z0-9:_-]).
func isThingNameChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == ':' || c == '_' || c == '-'
}

// excludesThingNames reports whether the tokens before toks[open] contain a literal character
// that no thing name has, so the pattern cannot match a device's client id (its thing name).
func excludesThingNames(toks []token, open int) bool {
	for _, t := range toks[:open] {
		if t.kind != tokLit {
			continue
		}
		for _, c := range t.text {
			if !isThingNameChar(c) {
				return true
			}
		}
	}
	return false
}

// perConnectionPrefixes are reserved topics whose responses AWS IoT sends only on the MQTT
// connection that made the request ("IoT Core Fleet Provisioning returns the device
// provisioning MQTT API results through the same MQTT connection used to publish the API
// request"), so a wildcard after them reaches no other device.
var perConnectionPrefixes = []string{
	"$aws/certificates/create/",
	"$aws/certificates/create-from-csr/",
}

// isPerConnectionTopic reports whether lit starts with a fleet provisioning request prefix:
// the certificate topics or one named template's "$aws/provisioning-templates/<t>/provision/".
func isPerConnectionTopic(lit string) bool {
	for _, p := range perConnectionPrefixes {
		if strings.HasPrefix(lit, p) {
			return true
		}
	}
	const tp = "$aws/provisioning-templates/"
	if !strings.HasPrefix(lit, tp) {
		return false
	}
	rest := lit[len(tp):]
	i := strings.IndexByte(rest, '/')
	return i > 0 && strings.HasPrefix(rest[i:], "/provision/")
}

// reachesThingsReserved reports whether a topic or topic filter pattern can match
// "$aws/things/<X>/..." for more than one thing X: the thing level is open, or a wildcard
// comes before the level is reached. A literal name or the thing-name variable fixes it.
func reachesThingsReserved(toks []token) bool {
	const prefix = "$aws/things/"
	i := 0
	var lit strings.Builder
	for ; i < len(toks) && toks[i].kind == tokLit; i++ {
		lit.WriteString(toks[i].text)
	}
	s := lit.String()
	if !strings.HasPrefix(s, prefix) {
		// Only a wildcard right after a prefix of "$aws/things/" can still reach it.
		return strings.HasPrefix(prefix, s) && i < len(toks) && isOpen(toks[i])
	}
	level := s[len(prefix):]
	if strings.Contains(level, "/") {
		return false // a literal thing name
	}
	if i == len(toks) {
		return false
	}
	if level != "" || (!isThingNameVar(toks[i]) && !isGroupVar(toks[i])) {
		// "$aws/things/sl-*", "$aws/things/*", "$aws/things/${iot:ClientId}/..."; another
		// opaque variable names one thing.
		return isOpen(toks[i])
	}
	// "$aws/things/${iot:Connection.Thing.ThingName}" (or a thing type or attribute, which
	// names one thing too, if a shared one: IoTPolicy-GroupScopedResource judges that) must
	// end the level.
	if i+1 == len(toks) {
		return false
	}
	return isOpen(toks[i+1])
}

// globRune is one element of a resolved pattern: a literal rune or a wildcard.
type globRune struct {
	r    rune
	wild byte // 0, '*' or '?'
}

type glob []globRune

func literalGlob(s string) glob {
	g := make(glob, 0, len(s))
	for _, r := range s {
		g = append(g, globRune{r: r})
	}
	return g
}

// match reports whether the whole of s matches g; "*" matches any run (also "/"), "?" one rune.
func (g glob) match(s string) bool {
	rs := make([]rune, 0, utf8.RuneCountInString(s))
	for _, r := range s {
		rs = append(rs, r)
	}
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(rs) {
		switch {
		case pi < len(g) && g[pi].wild == '*':
			starP, starS = pi, si
			pi++
		case pi < len(g) && (g[pi].wild == '?' || (g[pi].wild == 0 && g[pi].r == rs[si])):
			pi++
			si++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(g) && g[pi].wild == '*' {
		pi++
	}
	return pi == len(g)
}

// globFold matches s against pattern case-insensitively, for action names.
func globFold(pattern, s string) bool {
	var g glob
	for _, t := range tokenize(strings.ToLower(pattern), false) {
		switch t.kind {
		case tokStar:
			g = append(g, globRune{wild: '*'})
		case tokQmark:
			g = append(g, globRune{wild: '?'})
		case tokVar:
			g = append(g, literalGlob("${"+t.text+"}")...)
		default:
			g = append(g, literalGlob(t.text)...)
		}
	}
	return g.match(strings.ToLower(s))
}

// hasWildcard reports whether s contains an IoT wildcard outside ${*} and ${?}.
func hasWildcard(s string) bool {
	for _, t := range tokenize(s, false) {
		if t.kind == tokStar || t.kind == tokQmark {
			return true
		}
	}
	return false
}

package policies

import "strings"

// Request is one authorization question put to a policy, as AWS IoT would put it.
type Request struct {
	// Action, for example ActionPublish.
	Action string
	// Resource is an IoT ARN ("arn:aws:iot:eu-west-1:123456789012:topic/a/b") or a relative
	// resource ("topic/a/b").
	Resource string
	// ClientID is the MQTT client id of the connection.
	ClientID string
	// AttachedThing is the name of a thing attached to the certificate; "" when none is.
	AttachedThing string
	// ThingType is the attached thing's thing type in the registry; "" when it has none.
	ThingType string
	// ThingAttributes are the attached thing's attributes in the registry; an empty value
	// counts as absent (the registry's UpdateThing removes an attribute set to "").
	ThingAttributes map[string]string
}

// Allows reports whether doc lets the device thingName, connected with its thing name as
// client id and its thing attached to its certificate, perform action on resourceARN. The
// thing has no thing type and no attributes, so resources naming them match nothing: use
// AllowsThing for a device as provisioning registers it. An empty thingName asks for a
// certificate with no attached thing.
func Allows(doc Document, action, resourceARN, thingName string) bool {
	return Evaluate(doc, Request{Action: action, Resource: resourceARN, ClientID: thingName, AttachedThing: thingName})
}

// AllowsThing reports whether doc lets thing, connected with its name as client id and
// attached to its certificate, perform action on resourceARN; its thing type and attributes
// resolve the thing policy variables that name them.
func AllowsThing(doc Document, action, resourceARN string, thing RegisteredThing) bool {
	return Evaluate(doc, thing.Request(action, resourceARN))
}

// Evaluate is a small model of AWS IoT policy evaluation for tests: a matching Deny wins, else
// a matching Allow allows, else the request is denied. Thing policy variables
// (${iot:Connection.Thing.ThingName}, ThingTypeName, Attributes[<name>]) resolve only when
// the client id is the attached thing's name, and the type and attribute variables only when
// the thing has that type or attribute; ${iot:ClientId} resolves to the client id. A resource
// whose thing variable does not resolve matches nothing, in an Allow and in a Deny alike (AWS
// IoT: "this variable won't be resolved and will result in an access denied error"; IAM,
// "Policy variables with no value"). ${*}, ${?} and ${$} are literal characters; "*" and "?"
// are wildcards that match across "/". Conditions understood: Bool
// iot:Connection.Thing.IsAttached. Where the model cannot decide (another variable or
// condition), it errs towards denying: an Allow does not apply, a Deny does. Region and
// account in the request ARN are not compared.
func Evaluate(doc Document, req Request) bool {
	res, err := relativeResource(req.Resource)
	if err != nil || res == AnyResource {
		return false
	}
	allowed := false
	for _, st := range doc.Statements {
		deny := st.Effect == Deny
		if !deny && st.Effect != Allow {
			continue
		}
		if !coversAction(st.Actions, req.Action) || !conditionsHold(st.Conditions, req, deny) {
			continue
		}
		if !resourcesMatch(st.Resources, string(res), req, deny) {
			continue
		}
		if deny {
			return false
		}
		allowed = true
	}
	return allowed
}

func isAttached(req Request) bool {
	return req.AttachedThing != "" && req.ClientID == req.AttachedThing
}

func conditionsHold(c Conditions, req Request, deny bool) bool {
	for op, kv := range c {
		for key, values := range kv {
			if op != "Bool" || !strings.EqualFold(key, IsAttachedKey) {
				return deny
			}
			hold := false
			for _, v := range values {
				if strings.EqualFold(v, "true") == isAttached(req) {
					hold = true
				}
			}
			if !hold {
				return false
			}
		}
	}
	return true
}

func resourcesMatch(patterns []Resource, res string, req Request, deny bool) bool {
	for _, p := range patterns {
		if p == AnyResource {
			return true
		}
		rel, err := relativeResource(string(p))
		if err != nil {
			if deny {
				return true
			}
			continue
		}
		if rel == AnyResource {
			return true
		}
		g, st := resolve(string(rel), req)
		switch st {
		case unresolved:
			continue
		case undecided:
			if deny {
				return true
			}
			continue
		}
		if g.match(res) {
			return true
		}
	}
	return false
}

// resolution says whether a pattern's variables resolved.
type resolution int

const (
	resolved resolution = iota
	// unresolved: a variable the model knows has no value for this request; the pattern
	// matches nothing.
	unresolved
	// undecided: a variable the model does not know.
	undecided
)

// resolve substitutes the request's policy variables into a pattern.
func resolve(pattern string, req Request) (glob, resolution) {
	var g glob
	for _, t := range tokenize(pattern, false) {
		switch {
		case t.kind == tokStar:
			g = append(g, globRune{wild: '*'})
		case t.kind == tokQmark:
			g = append(g, globRune{wild: '?'})
		case isThingNameVar(t):
			if !isAttached(req) {
				return nil, unresolved
			}
			g = append(g, literalGlob(req.AttachedThing)...)
		case isThingTypeVar(t):
			if !isAttached(req) || req.ThingType == "" {
				return nil, unresolved
			}
			g = append(g, literalGlob(req.ThingType)...)
		case isClientIDVar(t):
			if req.ClientID == "" {
				return nil, unresolved
			}
			g = append(g, literalGlob(req.ClientID)...)
		default:
			if name, ok := attributeName(t); ok {
				v := req.ThingAttributes[name]
				if !isAttached(req) || v == "" {
					return nil, unresolved
				}
				g = append(g, literalGlob(v)...)
				continue
			}
			if t.kind == tokVar {
				return nil, undecided
			}
			g = append(g, literalGlob(t.text)...)
		}
	}
	return g, resolved
}

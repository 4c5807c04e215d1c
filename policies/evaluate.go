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
}

// Allows reports whether doc lets the device thingName, connected with its thing name as
// client id and its thing attached to its certificate, perform action on resourceARN. An
// empty thingName asks for a certificate with no attached thing.
func Allows(doc Document, action, resourceARN, thingName string) bool {
	return Evaluate(doc, Request{Action: action, Resource: resourceARN, ClientID: thingName, AttachedThing: thingName})
}

// Evaluate is a small model of AWS IoT policy evaluation for tests: a matching Deny wins, else
// a matching Allow allows, else the request is denied. Thing policy variables resolve only
// when the client id is the attached thing's name; ${iot:ClientId} resolves to the client id;
// ${*}, ${?} and ${$} are literal characters; "*" and "?" are wildcards that match across
// "/". Conditions understood: Bool iot:Connection.Thing.IsAttached. Where the model cannot
// decide (another variable or condition), it errs towards denying: an Allow does not apply,
// a Deny does. Region and account in the request ARN are not compared.
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
		g, ok := resolve(string(rel), req)
		if !ok {
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

// resolve substitutes the request's policy variables into a pattern; false when a variable
// does not resolve.
func resolve(pattern string, req Request) (glob, bool) {
	var g glob
	for _, t := range tokenize(pattern, false) {
		switch {
		case t.kind == tokStar:
			g = append(g, globRune{wild: '*'})
		case t.kind == tokQmark:
			g = append(g, globRune{wild: '?'})
		case isThingNameVar(t):
			if !isAttached(req) {
				return nil, false
			}
			g = append(g, literalGlob(req.AttachedThing)...)
		case isClientIDVar(t):
			if req.ClientID == "" {
				return nil, false
			}
			g = append(g, literalGlob(req.ClientID)...)
		case t.kind == tokVar:
			return nil, false
		default:
			g = append(g, literalGlob(t.text)...)
		}
	}
	return g, true
}

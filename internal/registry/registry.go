// Package registry looks devices up in the AWS IoT registry for the functions that act on a
// device by name (the command processor, the quarantine and audit remediation): what a thing
// is comes from the registry that AWS IoT authenticates it against, never from a list bundled
// with the function, so a thing provisioned at run time (JITP, claim) is served like a
// declared one. Answers are cached per execution environment with a bounded lifetime and size.
package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/secure-smart-city/platform/topics"
)

// Describer reads one thing from the registry (an *iot.Client).
type Describer interface {
	DescribeThing(ctx context.Context, in *iot.DescribeThingInput, opts ...func(*iot.Options)) (*iot.DescribeThingOutput, error)
}

// Thing is what the registry says about a device.
type Thing struct {
	Name string
	// Type is the thing type name, the qualified name of the device's class
	// (topics.RuleName(prefix, classID)); empty when the thing has none.
	Type string
	// District is the thing's district attribute (topics.DistrictAttribute); empty when unset.
	District string
}

// Class returns the fleet class id the thing's type names: the part after prefix + "_" (the
// inverse of topics.RuleName). ok is false when the type does not carry the prefix, so a thing
// of another fleet or stage, or with no type, is never taken for one of this fleet's. The
// caller still checks that the id is one of its fleet's classes.
func (t Thing) Class(prefix string) (classID string, ok bool) {
	p := topics.RuleName(prefix, "")
	if prefix == "" || !strings.HasPrefix(t.Type, p) || len(t.Type) == len(p) {
		return "", false
	}
	return t.Type[len(p):], true
}

// ErrNotFound is returned (wrapped) for a name the registry holds no thing under, including a
// name that no thing could have.
var ErrNotFound = errors.New("no such thing in the registry")

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// ValidName reports whether s is a possible thing name (AWS IoT: 1-128 of a-z A-Z 0-9 : _ -).
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Defaults of a Cache.
const (
	// DefaultTTL bounds how long a found thing is served from the cache: a thing deleted,
	// retyped or moved to another district is seen as such at most this long after.
	DefaultTTL = time.Minute
	// DefaultMaxEntries bounds the cache's memory (about 200 bytes an entry): a caller that
	// names many distinct things cannot grow the function's heap without limit.
	DefaultMaxEntries = 10_000
)

// Cache looks things up through a Describer and keeps the things it found for TTL.
//
// A name the registry does not hold is not cached: a device that JITP or claim provisioning
// creates must be reachable the moment it exists, and a miss costs one DescribeThing call,
// which the command API's throttle and WAF rate limit (and the remediation functions'
// reserved concurrency) already bound. Failures are not cached either.
//
// When the cache is full, expired entries go first, then arbitrary ones (Go's map order):
// a bound on memory, not an LRU; a thing evicted early costs one more DescribeThing call.
// A Cache is safe for concurrent use.
type Cache struct {
	client     Describer
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	thing   Thing
	expires time.Time
}

// Options tune a Cache; zero values take the defaults.
type Options struct {
	// TTL of a found thing. Default: DefaultTTL.
	TTL time.Duration
	// MaxEntries the cache holds. Default: DefaultMaxEntries.
	MaxEntries int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// NewCache returns a cache over client.
func NewCache(client Describer, o Options) *Cache {
	c := &Cache{client: client, ttl: o.TTL, maxEntries: o.MaxEntries, now: o.Now, entries: map[string]entry{}}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.maxEntries <= 0 {
		c.maxEntries = DefaultMaxEntries
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Lookup returns the registry's thing of that name. It returns an error wrapping ErrNotFound
// when there is none (or name could not be a thing's), and any other error when the registry
// could not answer; callers retry those or report them, and never take them for "not found".
func (c *Cache) Lookup(ctx context.Context, name string) (Thing, error) {
	if !ValidName(name) {
		return Thing{}, fmt.Errorf("%w: %q is not a valid thing name", ErrNotFound, shorten(name))
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.thing, nil
	}
	out, err := c.client.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(name)})
	var nf *iottypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		c.forget(name)
		return Thing{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	case err != nil:
		return Thing{}, fmt.Errorf("describe thing %s: %w", name, err)
	case out == nil:
		return Thing{}, fmt.Errorf("describe thing %s: empty answer", name)
	}
	t := Thing{Name: name, Type: aws.ToString(out.ThingTypeName), District: out.Attributes[topics.DistrictAttribute]}
	c.store(name, entry{thing: t, expires: now.Add(c.ttl)}, now)
	return t, nil
}

func (c *Cache) forget(name string) {
	c.mu.Lock()
	delete(c.entries, name)
	c.mu.Unlock()
}

func (c *Cache) store(name string, e entry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, present := c.entries[name]; !present && len(c.entries) >= c.maxEntries {
		for k, v := range c.entries {
			if !now.Before(v.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.maxEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[name] = e
}

// Len is how many things the cache holds (expired ones included until they are evicted).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func shorten(s string) string {
	if len(s) <= 128 {
		return s
	}
	return s[:128] + "..."
}

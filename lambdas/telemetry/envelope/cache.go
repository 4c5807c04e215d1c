package envelope

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/secure-smart-city/platform/lambdas/telemetry/internal/jsonenc"
)

// Cache defaults: a data key serves one encryption context for at most 5 minutes and 10,000
// messages, so KMS sees at most one GenerateDataKey per 10,000 messages per context while a
// device is busy, and a leaked data key exposes little.
const (
	DefaultMaxAge      = 5 * time.Minute
	DefaultMaxMessages = 10000
	DefaultMaxEntries  = 10000
)

// Options bound the cache. Zero values take the defaults above.
type Options struct {
	// MaxAge is how long a data key is used after KMS issued it.
	MaxAge time.Duration
	// MaxMessages is how many messages (Cache.Key calls) one data key serves.
	MaxMessages int
	// MaxEntries bounds the number of contexts held; the oldest key is dropped beyond it.
	MaxEntries int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

type contextKey struct{ thing, class string }

// Cache hands out data keys per encryption context, calling KMS only when a context has no
// key or its key reached MaxAge or MaxMessages. It is safe for concurrent use.
type Cache struct {
	kms   DataKeyGenerator
	keyID string
	opts  Options

	mu      sync.Mutex
	entries map[contextKey]*Key
}

// NewCache returns a cache that generates AES-256 data keys under the KMS key keyID.
func NewCache(kmsClient DataKeyGenerator, keyID string, opts Options) *Cache {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{kms: kmsClient, keyID: keyID, opts: opts, entries: make(map[contextKey]*Key)}
}

// Key returns the data key for one message of thing in class, counting the message against
// the key's limit. All sensitive values of that message may be sealed with it.
func (c *Cache) Key(ctx context.Context, thing, class string) (*Key, error) {
	if thing == "" || class == "" {
		return nil, errors.New("data key: thing and class must not be empty")
	}
	ck := contextKey{thing, class}
	now := c.opts.Now()
	c.mu.Lock()
	if k := c.entries[ck]; k != nil && k.uses < c.opts.MaxMessages && now.Sub(k.created) < c.opts.MaxAge {
		k.uses++
		c.mu.Unlock()
		return k, nil
	}
	c.mu.Unlock()

	// KMS is called without the lock so that other contexts keep encrypting meanwhile; two
	// callers racing on one context both get a valid key and the later one is kept.
	k, err := c.generate(ctx, thing, class, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[ck]; !ok && len(c.entries) >= c.opts.MaxEntries {
		c.evictOldest()
	}
	c.entries[ck] = k
	return k, nil
}

// Len reports how many contexts hold a key.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) evictOldest() {
	var oldest contextKey
	var at time.Time
	first := true
	for ck, k := range c.entries {
		if first || k.created.Before(at) {
			oldest, at, first = ck, k.created, false
		}
	}
	delete(c.entries, oldest)
}

func (c *Cache) generate(ctx context.Context, thing, class string, now time.Time) (*Key, error) {
	out, err := c.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             &c.keyID,
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: map[string]string{ContextThing: thing, ContextClass: class},
	})
	if err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	aead, err := newAEAD(out.Plaintext)
	clear(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	if len(out.CiphertextBlob) == 0 {
		return nil, errors.New("generate data key: empty ciphertext blob")
	}
	kid := c.keyID
	if out.KeyId != nil && *out.KeyId != "" {
		kid = *out.KeyId
	}
	k := &Key{aead: aead, thing: thing, class: class, created: now, uses: 1}
	if _, err := rand.Read(k.prefix[:]); err != nil {
		return nil, fmt.Errorf("nonce prefix: %w", err)
	}
	// Everything constant for the key's life is encoded once, so sealing only appends.
	var head []byte
	head = append(head, `{"v":`...)
	head = strconv.AppendInt(head, Version, 10)
	head = append(head, `,"alg":"`+Algorithm+`","kid":`...)
	head = jsonenc.AppendString(head, kid)
	head = append(head, `,"edk":"`...)
	head = base64.StdEncoding.AppendEncode(head, out.CiphertextBlob)
	head = append(head, `","iv":"`...)
	k.head = head
	var tail []byte
	tail = append(tail, `","ctx":{"class":`...)
	tail = jsonenc.AppendString(tail, class)
	tail = append(tail, `,"thing":`...)
	tail = jsonenc.AppendString(tail, thing)
	tail = append(tail, "}}"...)
	k.tail = tail
	return k, nil
}

// Key is one cached data key bound to one (thing, class) context.
type Key struct {
	aead         cipher.AEAD
	thing, class string
	created      time.Time
	uses         int // guarded by Cache.mu
	prefix       [4]byte
	counter      atomic.Uint64
	head, tail   []byte
}

// Sealer holds the scratch space sealing needs, so that a hot loop allocates nothing. A
// Sealer is not safe for concurrent use; keep one per goroutine.
type Sealer struct {
	nonce [nonceSize]byte
	aad   []byte
	ct    []byte
}

// AppendSeal encrypts plaintext (the JSON text of a value) as the value of field and appends
// the envelope JSON object to dst.
func (s *Sealer) AppendSeal(dst []byte, k *Key, field string, plaintext []byte) []byte {
	// A per-key counter after a random prefix never repeats a nonce under one key, which
	// random nonces only make unlikely.
	copy(s.nonce[:4], k.prefix[:])
	binary.BigEndian.PutUint64(s.nonce[4:], k.counter.Add(1))
	s.aad = appendAAD(s.aad[:0], field, k.thing, k.class)
	s.ct = k.aead.Seal(s.ct[:0], s.nonce[:], plaintext, s.aad)
	dst = append(dst, k.head...)
	dst = base64.StdEncoding.AppendEncode(dst, s.nonce[:])
	dst = append(dst, `","ct":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, s.ct)
	return append(dst, k.tail...)
}

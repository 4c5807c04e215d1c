// Package fakekms is an in-memory stand-in for the two KMS calls envelope encryption makes,
// for tests, benchmarks and the local city (cmd/city). It really encrypts data keys (AES-GCM
// under a random master key that lives as long as the value, with the encryption context as
// additional data), so a wrong context or key id fails as it would in KMS.
package fakekms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KeyARN is the key id New's fake reports.
const KeyARN = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000000"

// KMS implements GenerateDataKey and Decrypt.
type KMS struct {
	aead  cipher.AEAD
	keyID string

	// Generated and Decrypted count successful calls.
	Generated atomic.Int64
	Decrypted atomic.Int64

	mu sync.Mutex
	// failNext makes the next n GenerateDataKey calls fail.
	failNext int
}

// New returns a fake with a fresh master key, reporting KeyARN.
func New() *KMS { return NewKey(KeyARN) }

// NewKey returns a fake with a fresh master key, reporting keyID.
func NewKey(keyID string) *KMS {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &KMS{aead: aead, keyID: keyID}
}

// FailNext makes the next n GenerateDataKey calls return an error.
func (k *KMS) FailNext(n int) {
	k.mu.Lock()
	k.failNext = n
	k.mu.Unlock()
}

// ErrUnavailable is what a failing call returns.
var ErrUnavailable = errors.New("fake kms: service unavailable")

// GenerateDataKey returns a random 32-byte key and its encryption under the master key.
func (k *KMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	k.mu.Lock()
	if k.failNext > 0 {
		k.failNext--
		k.mu.Unlock()
		return nil, ErrUnavailable
	}
	k.mu.Unlock()
	if in.KeySpec != types.DataKeySpecAes256 {
		return nil, errors.New("fake kms: want AES_256")
	}
	plain := make([]byte, 32)
	if _, err := rand.Read(plain); err != nil {
		return nil, err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	blob := k.aead.Seal(nonce, nonce, plain, contextAAD(in.EncryptionContext))
	k.Generated.Add(1)
	arn := k.keyID
	return &kms.GenerateDataKeyOutput{Plaintext: append([]byte(nil), plain...), CiphertextBlob: blob, KeyId: &arn}, nil
}

// Decrypt returns the data key if the encryption context matches the one it was made with.
func (k *KMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	ns := k.aead.NonceSize()
	if len(in.CiphertextBlob) < ns {
		return nil, errors.New("fake kms: invalid ciphertext")
	}
	if in.KeyId != nil && *in.KeyId != k.keyID {
		return nil, errors.New("fake kms: incorrect key")
	}
	plain, err := k.aead.Open(nil, in.CiphertextBlob[:ns], in.CiphertextBlob[ns:], contextAAD(in.EncryptionContext))
	if err != nil {
		return nil, errors.New("fake kms: InvalidCiphertextException")
	}
	k.Decrypted.Add(1)
	arn := k.keyID
	return &kms.DecryptOutput{Plaintext: plain, KeyId: &arn}, nil
}

func contextAAD(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	for key := range ctx {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var out []byte
	for _, key := range keys {
		out = append(out, key...)
		out = append(out, 0)
		out = append(out, ctx[key]...)
		out = append(out, 0)
	}
	return out
}

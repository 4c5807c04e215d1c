// Package envelope encrypts sensitive telemetry values under data keys from AWS KMS
// (AES-256-GCM, one data key per device and class, cached for a bounded time and message
// count) and decrypts them again for operator tools.
//
// A stored value is a JSON object:
//
//	{"v":1,"alg":"AES-256-GCM","kid":"<KMS key ARN>","edk":"<base64 encrypted data key>",
//	 "iv":"<base64 12-byte nonce>","ct":"<base64 ciphertext||16-byte tag>",
//	 "ctx":{"class":"<class>","thing":"<thing>"}}
//
// The data key comes from KMS GenerateDataKey (AES_256) with encryption context
// {"thing": <thing>, "class": <class>}, so KMS Decrypt of "edk" succeeds only with that same
// context (and CloudTrail records which device's data was read). The plaintext is the JSON text
// of the value (`"AB-123"`, `42.5`), so types survive a round trip. The GCM additional data
// binds the ciphertext to its field name, thing and class (see aad), so a ciphertext copied to
// another field or device fails to open.
package envelope

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
)

// Format identifiers written into every envelope.
const (
	Version   = 1
	Algorithm = "AES-256-GCM"
)

// Encryption context keys. KMS binds the data key to both.
const (
	ContextThing = contract.ContextThing
	ContextClass = contract.ContextClass
)

const (
	nonceSize = 12
	tagSize   = 16
	keySize   = 32
	// aadLabel versions the additional data so a future format cannot be confused with this one.
	aadLabel = "smartcity/telemetry/v1"
)

// DataKeyGenerator is the one KMS call encryption needs.
type DataKeyGenerator interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
}

// DataKeyDecrypter is the one KMS call decryption needs.
type DataKeyDecrypter interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Envelope is the stored form of one encrypted value. Byte fields are base64 in JSON.
type Envelope struct {
	V            int               `json:"v"`
	Alg          string            `json:"alg"`
	KeyID        string            `json:"kid"`
	EncryptedKey []byte            `json:"edk"`
	Nonce        []byte            `json:"iv"`
	Ciphertext   []byte            `json:"ct"`
	Context      map[string]string `json:"ctx"`
}

// Decrypt opens an envelope that was stored under the JSON key field (the telemetry field
// name, or "payload" for a rejected record's original bytes) and returns the plaintext.
// It calls KMS Decrypt once; the caller needs kms:Decrypt on the key with the envelope's
// encryption context.
func Decrypt(ctx context.Context, kmsClient DataKeyDecrypter, field string, env *Envelope) ([]byte, error) {
	if env == nil {
		return nil, errors.New("decrypt: nil envelope")
	}
	if env.V != Version || env.Alg != Algorithm {
		return nil, fmt.Errorf("decrypt: unsupported envelope version %d algorithm %q", env.V, env.Alg)
	}
	if len(env.Nonce) != nonceSize || len(env.Ciphertext) < tagSize || len(env.EncryptedKey) == 0 {
		return nil, errors.New("decrypt: truncated envelope")
	}
	thing, class := env.Context[ContextThing], env.Context[ContextClass]
	if thing == "" || class == "" || len(env.Context) != 2 {
		return nil, errors.New("decrypt: encryption context must hold exactly thing and class")
	}
	in := &kms.DecryptInput{CiphertextBlob: env.EncryptedKey, EncryptionContext: env.Context}
	if env.KeyID != "" {
		// Naming the key makes KMS refuse a blob that some other key produced.
		in.KeyId = &env.KeyID
	}
	out, err := kmsClient.Decrypt(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("decrypt data key: %w", err)
	}
	aead, err := newAEAD(out.Plaintext)
	clear(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	plain, err := aead.Open(nil, env.Nonce, env.Ciphertext, appendAAD(nil, field, thing, class))
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", field, err)
	}
	return plain, nil
}

// DecryptJSON parses a stored envelope and decrypts it, for tools that read the archive's
// NDJSON or a state item's JSON.
func DecryptJSON(ctx context.Context, kmsClient DataKeyDecrypter, field string, raw []byte) ([]byte, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("parse envelope: %w", err)
	}
	return Decrypt(ctx, kmsClient, field, &env)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// appendAAD length-prefixes each part so that no two (field, thing, class) triples share
// additional data, whatever characters they hold.
func appendAAD(dst []byte, field, thing, class string) []byte {
	dst = append(dst, aadLabel...)
	for _, s := range [...]string{field, thing, class} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

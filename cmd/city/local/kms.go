package local

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// localKeyID is the key id the local KMS reports in envelopes.
const localKeyID = "local:kms/telemetry-fields"

// localKMS plays the two KMS calls envelope encryption makes. Its master key lives in memory
// for one run, like the stores, which start empty each run: nothing it sealed outlives it.
type localKMS struct{ aead cipher.AEAD }

func newLocalKMS() (*localKMS, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &localKMS{aead: aead}, nil
}

// GenerateDataKey returns a random AES-256 key and its sealing under the master key, with
// the encryption context as additional data, as KMS binds it.
func (k *localKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	if in.KeySpec != types.DataKeySpecAes256 {
		return nil, errors.New("local kms: only AES_256 data keys")
	}
	plain := make([]byte, 32)
	if _, err := rand.Read(plain); err != nil {
		return nil, err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	id := localKeyID
	return &kms.GenerateDataKeyOutput{
		Plaintext: plain, CiphertextBlob: k.aead.Seal(nonce, nonce, plain, contextAAD(in.EncryptionContext)), KeyId: &id,
	}, nil
}

// Decrypt opens a data key sealed by GenerateDataKey under the same encryption context.
func (k *localKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	ns := k.aead.NonceSize()
	if len(in.CiphertextBlob) < ns {
		return nil, errors.New("local kms: invalid ciphertext")
	}
	plain, err := k.aead.Open(nil, in.CiphertextBlob[:ns], in.CiphertextBlob[ns:], contextAAD(in.EncryptionContext))
	if err != nil {
		return nil, errors.New("local kms: invalid ciphertext or encryption context")
	}
	id := localKeyID
	return &kms.DecryptOutput{Plaintext: plain, KeyId: &id}, nil
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

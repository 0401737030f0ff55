package cardapi

// Field encryption of the request (the "encryption" block of
// shared/api/check-1e.md), client side.
//
// Only AES-256-CBC is implemented: the upstream's default algorithm, with a
// 32-character symmetric key wrapped by RSA PKCS#1 v1.5. SM4-GCM (16-character
// key, SM2 key wrapping, a tag per field in tag_list) is out of scope: the
// standard library has neither SM4 nor SM2, and the provider documents
// AES-256-CBC as the default.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// AlgorithmAES256CBC is the value of "algorithm" for AES-256-CBC, the only
// field-encryption algorithm cardapi implements.
const AlgorithmAES256CBC = "AES-256-CBC"

// FieldBankCard is the name of the card field in "encrypt_list".
const FieldBankCard = "bank_card"

const (
	symKeyLen    = 32 // characters (= bytes) of the AES-256 key
	ivLen        = aes.BlockSize
	maxKeyFile   = 64 << 10 // a PEM key file is a few kB at most
	minRSABits   = 1024     // crypto/rsa refuses smaller keys
	keyAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	keyRejectMin = 256 - 256%len(keyAlphabet) // bytes >= this are redrawn (no modulo bias)
)

// LoadRSAPublicKey reads the verification center's RSA public key from the
// PEM file at path, for Config.EncryptionKey. It accepts a PKCS#1 "RSA
// PUBLIC KEY" block (the form the center publishes) and a PKIX "PUBLIC KEY"
// block holding an RSA key, of at least 1024 bits. Anything else (not PEM, a
// private key, a certificate, a non-RSA key, a key too small to wrap a
// 32-byte key) is an error that names the file, says what it holds and what
// is expected. The key is checked to be usable for PKCS#1 v1.5 encryption.
func LoadRSAPublicKey(path string) (*rsa.PublicKey, error) {
	data, err := ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("cardapi: encryption key: %w", err)
	}
	pub, err := parseRSAPublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("cardapi: encryption key %s: %w", path, err)
	}
	return pub, nil
}

// ReadKeyFile reads a PEM key file of at most 64 KiB; a larger file is an
// error that names it. The simulator reads its private key through it too.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a PEM key file", path, maxKeyFile)
	}
	return data, nil
}

const wantPublicPEM = `expected the verification center's RSA public key as PEM ("-----BEGIN RSA PUBLIC KEY-----", PKCS#1, or "-----BEGIN PUBLIC KEY-----", PKIX)`

// parseRSAPublicKeyPEM parses the first PEM block of data as an RSA public
// key (see LoadRSAPublicKey).
func parseRSAPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file; " + wantPublicPEM)
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the RSA PUBLIC KEY block is not a valid PKCS#1 public key (%v); %s", err, wantPublicPEM)
		}
		pub = k
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the PUBLIC KEY block is not a valid PKIX public key (%v); %s", err, wantPublicPEM)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the PUBLIC KEY block holds a %s key, not an RSA key; %s", keyKind(k), wantPublicPEM)
		}
		pub = rk
	case "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, fmt.Errorf("the file holds a private key (%q); field encryption needs only the verification center's public key, never a private key; %s", block.Type, wantPublicPEM)
	case "CERTIFICATE":
		return nil, fmt.Errorf("the file holds a certificate; extract its public key with `openssl x509 -in FILE -pubkey -noout`; %s", wantPublicPEM)
	default:
		return nil, fmt.Errorf("the file holds a %q PEM block; %s", block.Type, wantPublicPEM)
	}
	if err := checkEncryptionKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// keyKind names the type of a parsed public key for error messages.
func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	case *ecdh.PublicKey:
		return "ECDH"
	}
	return fmt.Sprintf("%T", k)
}

// checkEncryptionKey reports whether pub can wrap a symmetric key with
// PKCS#1 v1.5 (size, exponent, and whatever crypto/rsa itself refuses).
func checkEncryptionKey(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil {
		return errors.New("no RSA public key")
	}
	if bits := pub.N.BitLen(); bits < minRSABits {
		return fmt.Errorf("the RSA key has %d bits; at least %d are needed (2048 or more recommended)", bits, minRSABits)
	}
	var probe [symKeyLen]byte
	//lint:ignore SA1019 the API document mandates RSA PKCS#1 v1.5 key wrapping.
	if _, err := rsa.EncryptPKCS1v15(rand.Reader, pub, probe[:]); err != nil {
		return fmt.Errorf("the RSA key cannot be used for PKCS#1 v1.5 encryption: %v", err)
	}
	return nil
}

// encryptFields encrypts card for the API's field encryption, AES-256-CBC
// form: a fresh 32-character symmetric key (letters and digits, about 190
// bits of entropy; the upstream uses a 32-character string as the AES-256
// key bytes) and a fresh 16-byte IV, both read from rnd; bankCard is
// base64(AES-256-CBC(PKCS#7(card))); enc carries the key wrapped with RSA
// PKCS#1 v1.5 under pub, the IV and the algorithm. rnd is crypto/rand.Reader
// outside tests. (crypto/rsa may use its own secure source for the PKCS#1
// padding whatever rnd is.) The error never contains card.
func encryptFields(card string, pub *rsa.PublicKey, rnd io.Reader) (bankCard string, enc Encryption, err error) {
	key := make([]byte, symKeyLen)
	defer clear(key)
	if err := randomKey(key, rnd); err != nil {
		return "", Encryption{}, fmt.Errorf("cardapi: generating the symmetric key: %w", err)
	}
	iv := make([]byte, ivLen)
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return "", Encryption{}, fmt.Errorf("cardapi: generating the IV: %w", err)
	}
	ct, err := aesCBCEncrypt(key, iv, []byte(card))
	if err != nil {
		return "", Encryption{}, err
	}
	//lint:ignore SA1019 the API document mandates RSA PKCS#1 v1.5 key wrapping.
	blob, err := rsa.EncryptPKCS1v15(rnd, pub, key)
	if err != nil {
		return "", Encryption{}, fmt.Errorf("cardapi: wrapping the symmetric key with the RSA public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), Encryption{
		EncryptList:    []string{FieldBankCard},
		CiphertextBlob: base64.StdEncoding.EncodeToString(blob),
		IV:             base64.StdEncoding.EncodeToString(iv),
		Algorithm:      AlgorithmAES256CBC,
	}, nil
}

// randomKey fills key with characters drawn uniformly from keyAlphabet,
// using rnd (rejection sampling: no modulo bias).
func randomKey(key []byte, rnd io.Reader) error {
	var buf [64]byte
	i := 0
	for i < len(key) {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return err
		}
		for _, b := range buf {
			if int(b) >= keyRejectMin {
				continue
			}
			key[i] = keyAlphabet[int(b)%len(keyAlphabet)]
			if i++; i == len(key) {
				break
			}
		}
	}
	clear(buf[:])
	return nil
}

// aesCBCEncrypt returns AES-256-CBC(key, iv, pkcs7Pad(plaintext)). key must
// be 32 bytes and iv 16 bytes; the error never contains the plaintext.
func aesCBCEncrypt(key, iv, plaintext []byte) ([]byte, error) {
	if len(key) != symKeyLen {
		return nil, fmt.Errorf("cardapi: AES-256 needs a %d-byte key, got %d bytes", symKeyLen, len(key))
	}
	if len(iv) != ivLen {
		return nil, fmt.Errorf("cardapi: AES-CBC needs a %d-byte IV, got %d bytes", ivLen, len(iv))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cardapi: %w", err)
	}
	buf := pkcs7Pad(plaintext, aes.BlockSize)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf, nil
}

// pkcs7Pad returns a new slice holding b followed by n bytes of value n,
// 1 <= n <= blockSize, so that its length is a multiple of blockSize: an
// input that already is gets a full block of padding.
func pkcs7Pad(b []byte, blockSize int) []byte {
	n := blockSize - len(b)%blockSize
	out := make([]byte, len(b), len(b)+n)
	copy(out, b)
	return append(out, bytes.Repeat([]byte{byte(n)}, n)...)
}

// encryptedBody returns the JSON body of an encrypted call for card: bank_card
// in ciphertext and the encryption block, as one object or, when array is
// set, as an array of one object.
func encryptedBody(card string, pub *rsa.PublicKey, array bool, rnd io.Reader) ([]byte, error) {
	bankCard, enc, err := encryptFields(card, pub, rnd)
	if err != nil {
		return nil, err
	}
	req := Request{BankCard: bankCard, Encryption: &enc}
	if array {
		req.Encryption = []Encryption{enc}
	}
	b, err := json.Marshal(req)
	if err != nil { // cannot happen: strings and string slices only
		return nil, fmt.Errorf("cardapi: encoding the encrypted request: %w", err)
	}
	return b, nil
}

package sim

// Field encryption, simulator side: the simulator plays the verification
// center, which holds the RSA private key matching the public key clients
// encrypt with. Only AES-256-CBC is supported, as in cardapi (SM4-GCM needs
// SM4 and SM2, which the standard library lacks); a request naming another
// algorithm gets 400 bad_request.
//
// The simulator uses rsa.DecryptPKCS1v15, which reports a bad key wrap as an
// error, rather than the constant-time DecryptPKCS1v15SessionKey, so that a
// client author gets a precise 400 message ("wrapped with another public
// key") instead of a padding error further on. That makes the simulator a
// padding oracle: it is a test tool, never to be given a production key.

import (
	"crypto/aes"
	"crypto/cipher"
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
	"unicode/utf8"
)

const (
	symKeyLen = 32 // bytes of the AES-256 key (32 characters upstream)
	ivLen     = aes.BlockSize
)

// LoadKeys loads the files named in c into keys: DecryptionKeyFile, when
// set, into DecryptionKey (see LoadRSAPrivateKey). Call it after parsing
// the flags and before Validate, which reports a DecryptionKeyFile that was
// not loaded. Its errors name the file and say what is expected.
func (c *Config) LoadKeys() error {
	if c.DecryptionKeyFile == "" {
		return nil
	}
	k, err := LoadRSAPrivateKey(c.DecryptionKeyFile)
	if err != nil {
		return err
	}
	c.DecryptionKey = k
	return nil
}

// LoadRSAPrivateKey reads an RSA private key from the PEM file at path, for
// Config.DecryptionKey: a PKCS#1 "RSA PRIVATE KEY" block or a PKCS#8
// "PRIVATE KEY" block holding an RSA key, unencrypted. Anything else (not
// PEM, a public key, a passphrase-protected key, a non-RSA key) is an error
// that names the file, says what it holds and what is expected. The key is
// validated (crypto/rsa's consistency checks).
func LoadRSAPrivateKey(path string) (*rsa.PrivateKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("simulator: decryption key: %w", err)
	}
	k, err := parseRSAPrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("simulator: decryption key %s: %w", path, err)
	}
	return k, nil
}

// maxKeyFile bounds the size of a key file: a PEM RSA key is a few KiB.
const maxKeyFile = 1 << 20

// readKeyFile reads a PEM key file of at most maxKeyFile bytes.
func readKeyFile(path string) ([]byte, error) {
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

const wantPrivatePEM = `expected an unencrypted RSA private key as PEM ("-----BEGIN RSA PRIVATE KEY-----", PKCS#1, or "-----BEGIN PRIVATE KEY-----", PKCS#8)`

func parseRSAPrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file; " + wantPrivatePEM)
	}
	if _, ok := block.Headers["Proc-Type"]; ok || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the private key is protected by a passphrase; write an unencrypted copy for the simulator (`openssl pkey -in FILE -out PLAIN.pem`); " + wantPrivatePEM)
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the RSA PRIVATE KEY block is not a valid PKCS#1 private key (%v); %s", err, wantPrivatePEM)
		}
		priv = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the PRIVATE KEY block is not a valid PKCS#8 private key (%v); %s", err, wantPrivatePEM)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the PRIVATE KEY block holds a %T, not an RSA key; %s", k, wantPrivatePEM)
		}
		priv = rk
	case "RSA PUBLIC KEY", "PUBLIC KEY":
		return nil, fmt.Errorf("the file holds a public key (%q); the simulator decrypts, so it needs the matching private key; %s", block.Type, wantPrivatePEM)
	default:
		return nil, fmt.Errorf("the file holds a %q PEM block; %s", block.Type, wantPrivatePEM)
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("the RSA private key is inconsistent (%v); %s", err, wantPrivatePEM)
	}
	return priv, nil
}

// GenerateTestKeyPair returns a fresh RSA key pair of the given size as PEM:
// the private key as PKCS#1 "RSA PRIVATE KEY" (for Config.DecryptionKey,
// `simulate --decryption-key`) and the public key as PKCS#1 "RSA PUBLIC
// KEY" (for cardapi.LoadRSAPublicKey, `run --encryption-key`). It is meant
// for tests and demonstrations; bits below 1024 are refused by crypto/rsa.
func GenerateTestKeyPair(bits int) (privPEM, pubPEM []byte, err error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("simulator: generating a %d-bit RSA key: %w", bits, err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	pubPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})
	return privPEM, pubPEM, nil
}

// wireEncryption is the lenient decoding of one "encryption" object.
type wireEncryption struct {
	EncryptList    []string `json:"encrypt_list"`
	CiphertextBlob string   `json:"ciphertext_blob"`
	IV             string   `json:"iv"`
	Algorithm      string   `json:"algorithm"`
	TagList        []string `json:"tag_list"` // SM4-GCM only; ignored
}

// Problems of an encrypted request (400 bad_request messages, after
// msgBadRequestPfx). None of them quotes the request.
const (
	probNoKey       = "the body carries \"encryption\" but this simulator has no decryption key (start it with --decryption-key FILE, the private key matching the client's --encryption-key)"
	probEncShape    = "encryption must be an object {\"encrypt_list\", \"ciphertext_blob\", \"iv\", \"algorithm\"} or an array of exactly one such object"
	probAlgorithm   = "encryption.algorithm must be \"AES-256-CBC\" (the simulator supports no other algorithm; SM4-GCM is not supported)"
	probEncryptList = "encryption.encrypt_list must be [\"bank_card\"]"
	probIV          = "encryption.iv must be the base64 of a 16-byte IV"
	probBlobB64     = "encryption.ciphertext_blob must be the base64 of the RSA-encrypted symmetric key"
	probBlobRSA     = "encryption.ciphertext_blob could not be decrypted with the simulator's RSA private key (PKCS#1 v1.5): was the key wrapped with the matching public key?"
	probKeyLen      = "the symmetric key in encryption.ciphertext_blob must be 32 bytes for AES-256-CBC"
	probCardB64     = "bank_card must be the base64 of its AES-256-CBC ciphertext when encryption is used"
	probCardBlocks  = "bank_card's ciphertext must be a whole, non-zero number of 16-byte AES blocks"
	probPadding     = "bank_card does not decrypt to valid PKCS#7 padding (wrong symmetric key or IV, or not AES-256-CBC)"
	probCardText    = "bank_card decrypts to an empty value or to bytes that are not text"
)

// decryptCard decrypts the bank_card of a request that carries an
// "encryption" block (raw: an object, or an array of one object) with the
// configured private key. It returns the clear card, or a problem for a 400
// answer. It never panics on malformed input.
func (s *Server) decryptCard(bankCard string, raw json.RawMessage) (card, problem string) {
	priv := s.cfg.DecryptionKey
	if priv == nil {
		return "", probNoKey
	}
	var enc wireEncryption
	switch first := firstByte(raw); first {
	case '{':
		if json.Unmarshal(raw, &enc) != nil {
			return "", probEncShape
		}
	case '[':
		var list []wireEncryption
		if json.Unmarshal(raw, &list) != nil || len(list) != 1 {
			return "", probEncShape
		}
		enc = list[0]
	default:
		return "", probEncShape
	}
	// The upstream documents AES-256-CBC as the default algorithm.
	if enc.Algorithm != "" && enc.Algorithm != algorithmAES256CBC {
		return "", probAlgorithm
	}
	if len(enc.EncryptList) != 1 || enc.EncryptList[0] != fieldBankCard {
		return "", probEncryptList
	}
	iv, err := base64.StdEncoding.DecodeString(enc.IV)
	if err != nil || len(iv) != ivLen {
		return "", probIV
	}
	blob, err := base64.StdEncoding.DecodeString(enc.CiphertextBlob)
	if err != nil || len(blob) == 0 {
		return "", probBlobB64
	}
	//lint:ignore SA1019 the API document mandates RSA PKCS#1 v1.5 key wrapping; see the file comment.
	key, err := rsa.DecryptPKCS1v15(nil, priv, blob)
	if err != nil {
		return "", probBlobRSA
	}
	defer clear(key)
	if len(key) != symKeyLen {
		return "", probKeyLen
	}
	ct, err := base64.StdEncoding.DecodeString(bankCard)
	if err != nil {
		return "", probCardB64
	}
	pt, prob := aesCBCDecrypt(key, iv, ct)
	if prob != "" {
		return "", prob
	}
	if len(pt) == 0 || !utf8.Valid(pt) {
		return "", probCardText
	}
	return string(pt), ""
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// aesCBCDecrypt decrypts ct with AES-256-CBC (key 32 bytes, iv 16 bytes) and
// removes its PKCS#7 padding strictly (1 to 16 bytes, all equal to their
// count). It returns the plaintext, or a problem for a 400 answer.
func aesCBCDecrypt(key, iv, ct []byte) ([]byte, string) {
	if len(key) != symKeyLen {
		return nil, probKeyLen
	}
	if len(iv) != ivLen {
		return nil, probIV
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, probCardBlocks
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, probKeyLen
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	pt, ok := pkcs7Unpad(pt, aes.BlockSize)
	if !ok {
		return nil, probPadding
	}
	return pt, ""
}

// pkcs7Unpad removes PKCS#7 padding from b (a non-empty multiple of
// blockSize); ok is false when the padding is not valid.
func pkcs7Unpad(b []byte, blockSize int) ([]byte, bool) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

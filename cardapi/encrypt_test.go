package cardapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testRSAKey is one 2048-bit key shared by the tests of this file.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPKCS7Pad(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 19, 31, 32} {
		in := bytes.Repeat([]byte{'7'}, n)
		got := pkcs7Pad(in[:n:n], 16)
		pad := 16 - n%16 // 1..16: a full block when n is a multiple of 16
		if len(got) != n+pad || len(got)%16 != 0 {
			t.Fatalf("len %d: padded to %d bytes, want %d", n, len(got), n+pad)
		}
		if !bytes.Equal(got[:n], in) {
			t.Fatalf("len %d: the data changed", n)
		}
		if !bytes.Equal(got[n:], bytes.Repeat([]byte{byte(pad)}, pad)) {
			t.Fatalf("len %d: padding %x, want %d bytes of %#x", n, got[n:], pad, pad)
		}
	}
	// The input's spare capacity is never written to.
	buf := make([]byte, 3, 64)
	copy(buf, "abc")
	_ = pkcs7Pad(buf, 16)
	if spare := buf[3:16]; !bytes.Equal(spare, make([]byte, 13)) {
		t.Fatalf("pkcs7Pad wrote into its input's backing array: %x", spare)
	}
}

// The expected ciphertexts were computed independently with OpenSSL 3.0:
//
//	printf '%s' "$PT" | openssl enc -aes-256-cbc -K $KEY -iv $IV | xxd -p
//
// (openssl enc pads with PKCS#7 by default).
var cbcVectors = []struct {
	name, plaintext, ciphertext string
}{
	{"19-digit card", "6222020200112233445", "4021ad8eeb9d01e4dcb2e1137955bb06e978cc53151468d1b56973e3d01d22b3"},
	{"16 bytes: a full block of padding", "6222020200112233", "4021ad8eeb9d01e4dcb2e1137955bb0657ee72fa5e53321bcc81c8d044725931"},
	{"15 bytes: one byte of padding", "622202020011223", "ff3927e8f5f9e6b75816f7f103690b0d"},
	{"empty: one block of padding", "", "27f84efed8077bde536c746f410b5125"},
}

const (
	cbcKeyText = "0123456789abcdefghijklmnopqrstuv" // a 32-character key, as upstream uses
	cbcIVHex   = "000102030405060708090a0b0c0d0e0f"
)

func TestAESCBCEncryptKnownAnswers(t *testing.T) {
	iv := mustHex(t, cbcIVHex)
	for _, v := range cbcVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := aesCBCEncrypt([]byte(cbcKeyText), iv, []byte(v.plaintext))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != v.ciphertext {
				t.Fatalf("AES-256-CBC(%q) = %x, want %s", v.plaintext, got, v.ciphertext)
			}
		})
	}
	// NIST SP 800-38A, F.2.5 CBC-AES256.Encrypt, block 1: the first
	// ciphertext block of a one-block plaintext does not depend on padding.
	key := mustHex(t, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
	pt := mustHex(t, "6bc1bee22e409f96e93d7e117393172a")
	got, err := aesCBCEncrypt(key, iv, pt)
	if err != nil {
		t.Fatal(err)
	}
	if want := "f58c4c04d6e5f1ba779eabfb5f7bfbd6"; hex.EncodeToString(got[:16]) != want || len(got) != 32 {
		t.Fatalf("NIST F.2.5: got %x, want %s followed by one padding block", got, want)
	}
	// The padding block of a 16-byte input: openssl gives this second block.
	if want := "485a5c81519cf378fa36d42b8547edc0"; hex.EncodeToString(got[16:]) != want {
		t.Fatalf("NIST F.2.5 padding block: got %x, want %s", got[16:], want)
	}
}

func TestAESCBCEncryptRejectsBadSizes(t *testing.T) {
	iv := make([]byte, 16)
	for _, tc := range []struct {
		name    string
		key, iv []byte
	}{
		{"AES-128 key", make([]byte, 16), iv},
		{"31-byte key", make([]byte, 31), iv},
		{"12-byte IV", make([]byte, 32), make([]byte, 12)},
		{"no IV", make([]byte, 32), nil},
	} {
		if _, err := aesCBCEncrypt(tc.key, tc.iv, []byte("6222020200112233445")); err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if strings.Contains(err.Error(), "6222020200112233445") {
			t.Errorf("%s: the error shows the plaintext: %v", tc.name, err)
		}
	}
}

// decryptCBC is the test's own AES-256-CBC decryption with PKCS#7 removal.
func decryptCBC(t *testing.T, key, iv, ct []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) == 0 || len(ct)%16 != 0 {
		t.Fatalf("ciphertext of %d bytes", len(ct))
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	n := int(pt[len(pt)-1])
	if n < 1 || n > 16 || !bytes.Equal(pt[len(pt)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		t.Fatalf("bad padding %x", pt[len(pt)-16:])
	}
	return pt[:len(pt)-n]
}

// openEncrypted checks an encryption block against the document and
// returns the clear card, the symmetric key and the IV.
func openEncrypted(t *testing.T, priv *rsa.PrivateKey, bankCard string, enc Encryption) (card string, key, iv []byte) {
	t.Helper()
	if len(enc.EncryptList) != 1 || enc.EncryptList[0] != "bank_card" {
		t.Fatalf("encrypt_list = %q, want [bank_card]", enc.EncryptList)
	}
	if enc.Algorithm != "AES-256-CBC" {
		t.Fatalf("algorithm = %q", enc.Algorithm)
	}
	if enc.TagList != nil {
		t.Fatalf("tag_list = %q, want none for CBC", enc.TagList)
	}
	blob, err := base64.StdEncoding.DecodeString(enc.CiphertextBlob)
	if err != nil {
		t.Fatalf("ciphertext_blob: %v", err)
	}
	//lint:ignore SA1019 the API document mandates RSA PKCS#1 v1.5 key wrapping; the test unwraps it.
	key, err = rsa.DecryptPKCS1v15(nil, priv, blob)
	if err != nil {
		t.Fatalf("unwrapping the key: %v", err)
	}
	if len(key) != 32 {
		t.Fatalf("symmetric key of %d bytes", len(key))
	}
	for _, c := range key {
		if !strings.ContainsRune(keyAlphabet, rune(c)) {
			t.Fatalf("symmetric key %q has a character outside [A-Za-z0-9]", key)
		}
	}
	iv, err = base64.StdEncoding.DecodeString(enc.IV)
	if err != nil || len(iv) != 16 {
		t.Fatalf("iv %q: %d bytes, %v", enc.IV, len(iv), err)
	}
	ct, err := base64.StdEncoding.DecodeString(bankCard)
	if err != nil {
		t.Fatalf("bank_card is not base64: %v", err)
	}
	return string(decryptCBC(t, key, iv, ct)), key, iv
}

func TestEncryptFields(t *testing.T) {
	priv := testRSAKey()
	const card = "6222020200112233445"
	seed := [32]byte{1, 2, 3}
	bankCard, enc, err := encryptFields(card, &priv.PublicKey, mrand.NewChaCha8(seed))
	if err != nil {
		t.Fatal(err)
	}
	got, key, iv := openEncrypted(t, priv, bankCard, enc)
	if got != card {
		t.Fatalf("decrypted %q, want %q", got, card)
	}
	// The key and then the IV come from rnd, in that order.
	rnd := mrand.NewChaCha8(seed)
	wantKey := make([]byte, 32)
	if err := randomKey(wantKey, rnd); err != nil {
		t.Fatal(err)
	}
	wantIV := make([]byte, 16)
	_, _ = io.ReadFull(rnd, wantIV)
	if !bytes.Equal(key, wantKey) || !bytes.Equal(iv, wantIV) {
		t.Fatalf("key %q iv %x, want %q %x from the injected reader", key, iv, wantKey, wantIV)
	}
	// bank_card is exactly base64(AES-256-CBC(key, iv, PKCS#7(card))).
	ct, _ := aesCBCEncrypt(key, iv, []byte(card))
	if bankCard != base64.StdEncoding.EncodeToString(ct) {
		t.Fatal("bank_card is not base64(AES-256-CBC(card))")
	}
	if strings.Contains(bankCard+enc.CiphertextBlob+enc.IV, card) {
		t.Fatal("the clear card shows in the encrypted fields")
	}

	// Fresh key and IV per call.
	bankCard2, enc2, err := encryptFields(card, &priv.PublicKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bankCard3, enc3, err := encryptFields(card, &priv.PublicKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bankCard2 == bankCard3 || enc2.CiphertextBlob == enc3.CiphertextBlob || enc2.IV == enc3.IV {
		t.Fatal("two encryptions of the same card share a ciphertext, key blob or IV")
	}
}

func TestRandomKey(t *testing.T) {
	// Bytes >= 248 are redrawn, others map to keyAlphabet[b % 62].
	src := append(bytes.Repeat([]byte{0xff, 0xf8}, 40), make([]byte, 64)...)
	for i := range 64 {
		src[80+i] = byte(i)
	}
	key := make([]byte, 32)
	if err := randomKey(key, bytes.NewReader(src)); err != nil {
		t.Fatal(err)
	}
	if want := keyAlphabet[:32]; string(key) != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	// A short reader is an error, not a weak key.
	if err := randomKey(key, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("no error from a reader that ran dry")
	}
	// Every character is used, about equally often.
	counts := map[byte]int{}
	for range 1000 {
		if err := randomKey(key, rand.Reader); err != nil {
			t.Fatal(err)
		}
		for _, c := range key {
			counts[c]++
		}
	}
	if len(counts) != len(keyAlphabet) {
		t.Fatalf("%d distinct characters in 32000, want %d", len(counts), len(keyAlphabet))
	}
	for c, n := range counts { // expected 516 each
		if n < 350 || n > 700 {
			t.Fatalf("character %q drawn %d times in 32000", c, n)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source failed") }

func TestEncryptFieldsRandomFailure(t *testing.T) {
	const card = "6222020200112233445"
	_, _, err := encryptFields(card, &testRSAKey().PublicKey, failingReader{})
	if err == nil || strings.Contains(err.Error(), card) {
		t.Fatalf("err = %v", err)
	}
	// Through Check: a fatal, unsent outcome naming no card.
	c := newClient(t, "http://127.0.0.1:1", func(cfg *Config) { cfg.EncryptionKey = &testRSAKey().PublicKey })
	c.rnd = failingReader{}
	o := c.Check(context.Background(), card)
	if o.Kind != KindFatal || o.Sent || o.Err == nil || strings.Contains(o.Err.Error(), card) {
		t.Fatalf("outcome %+v", o)
	}
}

// writePEM writes one PEM block (or raw bytes when typ is "") to a file in
// dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	data := der
	if typ != "" {
		data = pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRSAPublicKey(t *testing.T) {
	priv := testRSAKey()
	dir := t.TempDir()
	pkixDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKIX, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "center"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	small := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 511), big.NewInt(1)), E: 65537}

	good := []struct{ name, path string }{
		{"PKCS#1", writePEM(t, dir, "pkcs1.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&priv.PublicKey))},
		{"PKIX", writePEM(t, dir, "pkix.pem", "PUBLIC KEY", pkixDER)},
		{"PKCS#1 after a text preamble", writePEM(t, dir, "preamble.pem", "",
			append([]byte("The center's key, issued 2024:\n"), pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})...))},
	}
	for _, tc := range good {
		pub, err := LoadRSAPublicKey(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !pub.Equal(&priv.PublicKey) {
			t.Fatalf("%s: another key came back", tc.name)
		}
	}

	bad := []struct {
		name, path string
		want       []string // fragments of the error
	}{
		{"missing file", filepath.Join(dir, "nope.pem"), []string{"nope.pem", "no such file"}},
		{"garbage", writePEM(t, dir, "garbage.pem", "", []byte("this is not a key\n")), []string{"garbage.pem", "not a PEM file", "RSA PUBLIC KEY"}},
		{"empty file", writePEM(t, dir, "empty.pem", "", nil), []string{"empty.pem", "not a PEM file"}},
		{"DER instead of PEM", writePEM(t, dir, "key.der", "", x509.MarshalPKCS1PublicKey(&priv.PublicKey)), []string{"key.der", "not a PEM file"}},
		{"PKCS#1 private key", writePEM(t, dir, "priv1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv)), []string{"priv1.pem", "private key", "public key"}},
		{"PKCS#8 private key", writePEM(t, dir, "priv8.pem", "PRIVATE KEY", pkcs8), []string{"priv8.pem", "private key"}},
		{"certificate", writePEM(t, dir, "cert.pem", "CERTIFICATE", cert), []string{"cert.pem", "certificate", "openssl x509"}},
		{"ECDSA key", writePEM(t, dir, "ec.pem", "PUBLIC KEY", ecPKIX), []string{"ec.pem", "ECDSA", "not an RSA key"}},
		{"corrupt PKCS#1", writePEM(t, dir, "corrupt.pem", "RSA PUBLIC KEY", []byte{0x30, 0x03, 0x02, 0x01}), []string{"corrupt.pem", "not a valid PKCS#1"}},
		{"PKIX block holding PKCS#1", writePEM(t, dir, "mislabelled.pem", "PUBLIC KEY", x509.MarshalPKCS1PublicKey(&priv.PublicKey)), []string{"mislabelled.pem", "not a valid PKIX"}},
		{"512-bit key", writePEM(t, dir, "small.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(small)), []string{"small.pem", "512 bits", "1024"}},
		{"other PEM block", writePEM(t, dir, "params.pem", "EC PARAMETERS", []byte{6, 1, 0}), []string{"params.pem", `"EC PARAMETERS"`}},
	}
	for _, tc := range bad {
		pub, err := LoadRSAPublicKey(tc.path)
		if err == nil || pub != nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
}

func TestNewEncryptionKey(t *testing.T) {
	small := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 511), big.NewInt(1)), E: 65537}
	for _, k := range []*rsa.PublicKey{small, {}} {
		if _, err := New(Config{Endpoint: "http://127.0.0.1:1", EncryptionKey: k}); err == nil || !strings.Contains(err.Error(), "encryption key") {
			t.Fatalf("New accepted an unusable key: %v", err)
		}
	}
	if _, err := New(Config{Endpoint: "http://127.0.0.1:1", EncryptionKey: &testRSAKey().PublicKey}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckEncryptedBody checks the wire form of encrypted calls, in both
// forms, against a server that decrypts with the test key.
func TestCheckEncryptedBody(t *testing.T) {
	priv := testRSAKey()
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result":"0","description":"ok","account_bank":"Bank","account_type":1}`)
	}))
	defer srv.Close()

	const card = "6222020200112233445"
	for _, array := range []bool{false, true} {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		c := newClient(t, srv.URL, func(cfg *Config) {
			cfg.EncryptionKey = &priv.PublicKey
			cfg.EncryptionArray = array
		})
		for range 2 {
			if o := c.Check(context.Background(), card); o.Kind != KindAnswer || o.Answer.Result != "0" {
				t.Fatalf("array=%v: outcome %+v", array, o)
			}
		}
		if len(bodies) != 2 {
			t.Fatalf("%d bodies", len(bodies))
		}
		type sent struct {
			bankCard string
			enc      Encryption
		}
		var got []sent
		for _, b := range bodies {
			if bytes.Contains(b, []byte(card)) {
				t.Fatalf("array=%v: the clear card is in the body %s", array, b)
			}
			var raw struct {
				BankCard   string          `json:"bank_card"`
				Encryption json.RawMessage `json:"encryption"`
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			var enc Encryption
			if array {
				var list []Encryption
				if err := json.Unmarshal(raw.Encryption, &list); err != nil || len(list) != 1 {
					t.Fatalf("array form: encryption %s (%v)", raw.Encryption, err)
				}
				enc = list[0]
			} else if err := json.Unmarshal(raw.Encryption, &enc); err != nil {
				t.Fatalf("object form: encryption %s (%v)", raw.Encryption, err)
			}
			if bytes.Contains(raw.Encryption, []byte("tag_list")) {
				t.Fatalf("tag_list sent for CBC: %s", raw.Encryption)
			}
			if clear, _, _ := openEncrypted(t, priv, raw.BankCard, enc); clear != card {
				t.Fatalf("decrypted %q", clear)
			}
			got = append(got, sent{raw.BankCard, enc})
		}
		if got[0].bankCard == got[1].bankCard || got[0].enc.CiphertextBlob == got[1].enc.CiphertextBlob || got[0].enc.IV == got[1].enc.IV {
			t.Fatalf("array=%v: two calls for one card share a ciphertext, key blob or IV", array)
		}
	}

	// Without a key the body stays clear, with no encryption block.
	mu.Lock()
	bodies = nil
	mu.Unlock()
	c := newClient(t, srv.URL, nil)
	c.Check(context.Background(), card)
	if want := `{"bank_card":"` + card + `"}`; len(bodies) != 1 || string(bodies[0]) != want {
		t.Fatalf("clear body %q, want %s", bodies, want)
	}
}

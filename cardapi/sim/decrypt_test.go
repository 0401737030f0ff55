package sim

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
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/cardapi"
)

// testKeys is a key pair for the simulator; otherKeys another one, for
// "encrypted with the wrong public key".
var (
	testKeys  = sync.OnceValue(func() *rsa.PrivateKey { return mustKeyPair() })
	otherKeys = sync.OnceValue(func() *rsa.PrivateKey { return mustKeyPair() })
)

// mustKeyPair generates a pair through GenerateTestKeyPair and parses it
// back, so that every test also exercises the PEM helpers.
func mustKeyPair() *rsa.PrivateKey {
	privPEM, pubPEM, err := GenerateTestKeyPair(2048)
	if err != nil {
		panic(err)
	}
	b, _ := pem.Decode(privPEM)
	k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
	if err != nil {
		panic(err)
	}
	b, _ = pem.Decode(pubPEM)
	pub, err := x509.ParsePKCS1PublicKey(b.Bytes)
	if err != nil || !pub.Equal(&k.PublicKey) {
		panic("GenerateTestKeyPair: the public key does not match")
	}
	return k
}

// The expected values were computed independently with OpenSSL 3.0
// (printf '%s' "$PT" | openssl enc -aes-256-cbc -K $KEY -iv $IV | xxd -p);
// the same vectors as cardapi's encryption tests.
var cbcVectors = []struct{ name, plaintext, ciphertext string }{
	{"19-digit card", "6222020200112233445", "4021ad8eeb9d01e4dcb2e1137955bb06e978cc53151468d1b56973e3d01d22b3"},
	{"16 bytes: a full block of padding", "6222020200112233", "4021ad8eeb9d01e4dcb2e1137955bb0657ee72fa5e53321bcc81c8d044725931"},
	{"15 bytes: one byte of padding", "622202020011223", "ff3927e8f5f9e6b75816f7f103690b0d"},
	{"empty: one block of padding", "", "27f84efed8077bde536c746f410b5125"},
}

const (
	cbcKeyText = "0123456789abcdefghijklmnopqrstuv"
	cbcIVHex   = "000102030405060708090a0b0c0d0e0f"
)

func TestAESCBCDecryptKnownAnswers(t *testing.T) {
	iv, _ := hex.DecodeString(cbcIVHex)
	for _, v := range cbcVectors {
		ct, _ := hex.DecodeString(v.ciphertext)
		pt, prob := aesCBCDecrypt([]byte(cbcKeyText), iv, ct)
		if prob != "" || string(pt) != v.plaintext {
			t.Errorf("%s: got %q (%s), want %q", v.name, pt, prob, v.plaintext)
		}
	}
	// A wrong IV changes the first block only: the padding still checks out.
	ct, _ := hex.DecodeString(cbcVectors[0].ciphertext)
	if pt, prob := aesCBCDecrypt([]byte(cbcKeyText), make([]byte, 16), ct); prob != "" || string(pt[16:]) != "445" {
		t.Errorf("wrong IV: %q %s", pt, prob)
	}
	// A wrong key breaks the padding.
	if _, prob := aesCBCDecrypt([]byte(strings.Repeat("k", 32)), iv, ct); prob != probPadding {
		t.Errorf("wrong key: problem %q", prob)
	}
	for _, tc := range []struct {
		name      string
		key, iv   []byte
		ct        []byte
		wantProbl string
	}{
		{"short key", make([]byte, 16), iv, ct, probKeyLen},
		{"short IV", []byte(cbcKeyText), iv[:12], ct, probIV},
		{"empty ciphertext", []byte(cbcKeyText), iv, nil, probCardBlocks},
		{"partial block", []byte(cbcKeyText), iv, ct[:20], probCardBlocks},
	} {
		if _, prob := aesCBCDecrypt(tc.key, tc.iv, tc.ct); prob != tc.wantProbl {
			t.Errorf("%s: problem %q, want %q", tc.name, prob, tc.wantProbl)
		}
	}
}

func TestPKCS7Unpad(t *testing.T) {
	block := func(tail ...byte) []byte { return append(bytes.Repeat([]byte{'x'}, 16-len(tail)), tail...) }
	full := bytes.Repeat([]byte{16}, 16)
	for _, tc := range []struct {
		name string
		in   []byte
		want string
		ok   bool
	}{
		{"one byte", block(1), strings.Repeat("x", 15), true},
		{"three bytes", block(3, 3, 3), strings.Repeat("x", 13), true},
		{"full block after data", append(block(1)[:16:16], full...), strings.Repeat("x", 15) + "\x01", true},
		{"only a full block", full, "", true},
		{"zero", block(0), "", false},
		{"over the block size", block(17), "", false},
		{"inconsistent", block(2, 3, 3), "", false},
		{"inconsistent, full", append([]byte{15}, full[1:]...), "", false},
		{"empty", nil, "", false},
		{"not a block multiple", []byte{1}, "", false},
	} {
		got, ok := pkcs7Unpad(tc.in, 16)
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("%s: got %q %v, want %q %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// encServer is a simulator with the test private key behind httptest, and
// every request body it saw.
type encServer struct {
	sim    *Server
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newEncServer(t *testing.T, cfg Config) *encServer {
	t.Helper()
	es := &encServer{}
	cfg.OnBody = func(b []byte) {
		es.mu.Lock()
		es.bodies = append(es.bodies, b)
		es.mu.Unlock()
	}
	es.sim = New(cfg)
	es.srv = httptest.NewServer(es.sim)
	t.Cleanup(es.srv.Close)
	return es
}

func (es *encServer) seen() [][]byte {
	es.mu.Lock()
	defer es.mu.Unlock()
	return append([][]byte(nil), es.bodies...)
}

func encClient(t *testing.T, url string, pub *rsa.PublicKey, array bool) *cardapi.Client {
	t.Helper()
	c, err := cardapi.New(cardapi.Config{Endpoint: url, Token: "tok-encryption-test", EncryptionKey: pub, EncryptionArray: array, MaxConns: 16, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// checkAll checks every card once, 16 at a time, and returns the outcomes
// in card order.
func checkAll(c cardapi.Caller, cards []string) []cardapi.Outcome {
	out := make([]cardapi.Outcome, len(cards))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, card := range cards {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.Check(context.Background(), card)
		}()
	}
	wg.Wait()
	return out
}

// TestEncryptedRoundTrip runs 250 generated cards through the client with
// field encryption and the simulator with the matching private key, in both
// forms: every answer is the clear card's, the ledger is the one a clear run
// leaves, and the simulator never sees a clear card.
func TestEncryptedRoundTrip(t *testing.T) {
	const seed, n = 7, 250
	cards := GenerateCards(seed, n)
	priv := testKeys()

	// The reference: the same cards in clear.
	clear := newEncServer(t, Config{Seed: seed})
	checkAll(encClient(t, clear.srv.URL, nil, false), cards)
	want := clear.sim.Ledger()

	for _, form := range []struct {
		name  string
		array bool
	}{{"object", false}, {"array", true}} {
		t.Run(form.name, func(t *testing.T) {
			es := newEncServer(t, Config{Seed: seed, DecryptionKey: priv})
			outs := checkAll(encClient(t, es.srv.URL, &priv.PublicKey, form.array), cards)
			charged := 0
			for i, o := range outs {
				wantAns := Answer(seed, cards[i])
				if o.Kind == cardapi.KindFatal || o.HTTPStatus != http.StatusOK || o.Answer != wantAns {
					t.Fatalf("card %d: outcome %v %d %+v %s %s, want answer %+v", i, o.Kind, o.HTTPStatus, o.Answer, o.Code, o.Message, wantAns)
				}
				if got := es.sim.AnswersFor(cards[i]); len(got) != 1 || got[0].Result != wantAns.Result {
					t.Fatalf("card %d: ledger entries %+v", i, got)
				}
				if docCharged(o.Answer.Result) {
					charged++
				}
			}
			l := es.sim.Ledger()
			if l.Calls != n || l.DistinctCards != n || l.Charged != int64(charged) ||
				!maps.Equal(l.ByResult, want.ByResult) || !maps.Equal(l.ByStatus, want.ByStatus) || l.Charged != want.Charged {
				t.Fatalf("ledger %+v, want the clear run's %+v", l, want)
			}

			bodies := es.seen()
			if len(bodies) != n {
				t.Fatalf("OnBody saw %d bodies, want %d", len(bodies), n)
			}
			for _, b := range bodies {
				var raw map[string]json.RawMessage
				if err := json.Unmarshal(b, &raw); err != nil {
					t.Fatalf("body %s: %v", b, err)
				}
				if enc := raw["encryption"]; len(enc) == 0 || (enc[0] == '[') != form.array {
					t.Fatalf("encryption %s in the %s form", enc, form.name)
				}
				for _, card := range cards {
					if bytes.Contains(b, []byte(card)) {
						t.Fatalf("the simulator saw a clear card in %s", b)
					}
				}
			}
		})
	}
}

// TestEncryptedFaultsMatchClear: with faults on, an encrypted run gets, card
// by card, exactly the statuses and answers a clear run gets (the fault
// draws depend on the decrypted card, as on the clear one).
func TestEncryptedFaultsMatchClear(t *testing.T) {
	const seed, n = 19, 200
	cards := GenerateCards(seed, n)
	priv := testKeys()
	faults := Config{Seed: seed, BusyProb: 0.1, ServerErrorProb: 0.1, RateLimitedProb: 0.05, UnknownResultProb: 0.05, BadGatewayProb: 0.05}
	clear := newEncServer(t, faults)
	want := checkAll(encClient(t, clear.srv.URL, nil, false), cards)
	faults.DecryptionKey = priv
	es := newEncServer(t, faults)
	got := checkAll(encClient(t, es.srv.URL, &priv.PublicKey, false), cards)
	faulted := 0
	for i := range cards {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.HTTPStatus != w.HTTPStatus || g.Answer != w.Answer || g.Code != w.Code {
			t.Fatalf("card %d: encrypted %v %d %+v %s, clear %v %d %+v %s", i, g.Kind, g.HTTPStatus, g.Answer, g.Code, w.Kind, w.HTTPStatus, w.Answer, w.Code)
		}
		if g.Kind != cardapi.KindAnswer || g.Answer.Result == ResultInvalidCard {
			faulted++
		}
	}
	if faulted < n/5 {
		t.Fatalf("only %d of %d calls hit a fault", faulted, n)
	}
	if l, lc := es.sim.Ledger(), clear.sim.Ledger(); l.Charged != lc.Charged || !maps.Equal(l.ByResult, lc.ByResult) || !maps.Equal(l.ByStatus, lc.ByStatus) {
		t.Fatalf("ledger %+v, clear run %+v", l, lc)
	}
}

// TestEncryptedSameCardDiffers: two calls for one card carry different
// ciphertexts, key blobs and IVs, and get the same answer.
func TestEncryptedSameCardDiffers(t *testing.T) {
	priv := testKeys()
	es := newEncServer(t, Config{Seed: 3, DecryptionKey: priv})
	c := encClient(t, es.srv.URL, &priv.PublicKey, false)
	card := GenerateCards(3, 1)[0]
	o1 := c.Check(context.Background(), card)
	o2 := c.Check(context.Background(), card)
	if o1.Answer != Answer(3, card) || o2.Answer != o1.Answer {
		t.Fatalf("answers %+v %+v", o1.Answer, o2.Answer)
	}
	if got := es.sim.AnswersFor(card); len(got) != 2 {
		t.Fatalf("ledger for the card: %+v", got)
	}
	var reqs [2]struct {
		BankCard   string             `json:"bank_card"`
		Encryption cardapi.Encryption `json:"encryption"`
	}
	bodies := es.seen()
	for i := range reqs {
		if err := json.Unmarshal(bodies[i], &reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	a, b := reqs[0], reqs[1]
	if a.BankCard == b.BankCard || a.Encryption.CiphertextBlob == b.Encryption.CiphertextBlob || a.Encryption.IV == b.Encryption.IV {
		t.Fatalf("two calls share a ciphertext, key blob or IV:\n%s\n%s", bodies[0], bodies[1])
	}
}

// seal builds an encrypted request body by hand: key wrapped with pub, the
// padded plaintext encrypted (no padding added here, so tests can break it).
type sealed struct {
	BankCard   string `json:"bank_card"`
	Encryption any    `json:"encryption"`
}

func seal(t *testing.T, pub *rsa.PublicKey, key, iv, padded []byte) (string, map[string]any) {
	t.Helper()
	//lint:ignore SA1019 the API prescribes PKCS #1 v1.5 for the key blob (check-1e.md)
	blob, err := rsa.EncryptPKCS1v15(rand.Reader, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(padded))
	if len(key) == 32 {
		block, _ := aes.NewCipher(key)
		cipher.NewCBCEncrypter(block, iv[:16]).CryptBlocks(ct, padded)
	}
	return base64.StdEncoding.EncodeToString(ct), map[string]any{
		"encrypt_list":    []string{"bank_card"},
		"ciphertext_blob": base64.StdEncoding.EncodeToString(blob),
		"iv":              base64.StdEncoding.EncodeToString(iv),
		"algorithm":       "AES-256-CBC",
	}
}

func pad(s string) []byte {
	n := 16 - len(s)%16
	return append([]byte(s), bytes.Repeat([]byte{byte(n)}, n)...)
}

func TestEncryptedMalformed(t *testing.T) {
	priv := testKeys()
	pub := &priv.PublicKey
	const card = "6222020200112233445"
	key := []byte(cbcKeyText)
	iv := bytes.Repeat([]byte{9}, 16)
	good := func() (string, map[string]any) { return seal(t, pub, key, iv, pad(card)) }
	body := func(bankCard string, enc any) string {
		b, err := json.Marshal(sealed{bankCard, enc})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	with := func(k string, v any) string {
		bc, enc := good()
		if v == nil {
			delete(enc, k)
		} else {
			enc[k] = v
		}
		return body(bc, enc)
	}
	wrongBlock := func(padded []byte) string { bc, enc := seal(t, pub, key, iv, padded); return body(bc, enc) }

	// The good body works (the control).
	ts := newTestServer(t, Config{DecryptionKey: priv})
	if o := ts.do(context.Background(), http.MethodPost, cardapi.Path, "", body(good())); o.status != 200 || o.answer != Answer(0, card) {
		t.Fatalf("good body: %d %s", o.status, o.body)
	}
	if o := ts.do(context.Background(), http.MethodPost, cardapi.Path, "", func() string { bc, enc := good(); return body(bc, []any{enc}) }()); o.status != 200 {
		t.Fatalf("good body, array form: %d %s", o.status, o.body)
	}
	if o := ts.do(context.Background(), http.MethodPost, cardapi.Path, "", with("algorithm", nil)); o.status != 200 {
		t.Fatalf("no algorithm (AES-256-CBC is the default): %d %s", o.status, o.body)
	}
	if o := ts.check("", card); o.status != 200 || o.answer != Answer(0, card) {
		t.Fatalf("clear request to a simulator with a key: %d %s", o.status, o.body)
	}

	otherBlob := func() string {
		bc, enc := good()
		//lint:ignore SA1019 the API prescribes PKCS #1 v1.5 for the key blob (check-1e.md)
		blob, _ := rsa.EncryptPKCS1v15(rand.Reader, &otherKeys().PublicKey, key)
		enc["ciphertext_blob"] = base64.StdEncoding.EncodeToString(blob)
		return body(bc, enc)
	}
	shortKey := func() string {
		bc, enc := good()
		//lint:ignore SA1019 the API prescribes PKCS #1 v1.5 for the key blob (check-1e.md)
		blob, _ := rsa.EncryptPKCS1v15(rand.Reader, pub, key[:16])
		enc["ciphertext_blob"] = base64.StdEncoding.EncodeToString(blob)
		return body(bc, enc)
	}
	cases := []struct {
		name string
		cfg  *Config // nil: the simulator with the key
		body string
		want string // the problem
	}{
		{"no decryption key configured", &Config{}, body(good()), probNoKey},
		{"encryption is a string", nil, body(card, "AES-256-CBC"), probEncShape},
		{"encryption is a number", nil, body(card, 1), probEncShape},
		{"empty array", nil, body(card, []any{}), probEncShape},
		{"array of two", nil, func() string { bc, enc := good(); return body(bc, []any{enc, enc}) }(), probEncShape},
		{"field of the wrong type", nil, with("iv", 16), probEncShape},
		{"SM4-GCM", nil, with("algorithm", "SM4-GCM"), probAlgorithm},
		{"AES-128-CBC", nil, with("algorithm", "AES-128-CBC"), probAlgorithm},
		{"lower-case algorithm", nil, with("algorithm", "aes-256-cbc"), probAlgorithm},
		{"no encrypt_list", nil, with("encrypt_list", nil), probEncryptList},
		{"empty encrypt_list", nil, with("encrypt_list", []string{}), probEncryptList},
		{"encrypt_list names another field", nil, with("encrypt_list", []string{"card_no"}), probEncryptList},
		{"encrypt_list names two fields", nil, with("encrypt_list", []string{"bank_card", "name"}), probEncryptList},
		{"no iv", nil, with("iv", nil), probIV},
		{"iv not base64", nil, with("iv", "not base64!"), probIV},
		{"12-byte iv (SM4-GCM size)", nil, with("iv", base64.StdEncoding.EncodeToString(iv[:12])), probIV},
		{"no ciphertext_blob", nil, with("ciphertext_blob", nil), probBlobB64},
		{"ciphertext_blob not base64", nil, with("ciphertext_blob", "%%%"), probBlobB64},
		{"ciphertext_blob of another key pair", nil, otherBlob(), probBlobRSA},
		{"ciphertext_blob garbage", nil, with("ciphertext_blob", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 256))), probBlobRSA},
		{"ciphertext_blob truncated", nil, with("ciphertext_blob", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 100))), probBlobRSA},
		{"16-byte symmetric key", nil, shortKey(), probKeyLen},
		{"clear card with an encryption block", nil, func() string { _, enc := good(); return body(card, enc) }(), probCardB64},
		{"bank_card not base64", nil, func() string { _, enc := good(); return body("@@@@", enc) }(), probCardB64},
		{"ciphertext of 15 bytes", nil, func() string { _, enc := good(); return body(base64.StdEncoding.EncodeToString(make([]byte, 15)), enc) }(), probCardBlocks},
		{"empty ciphertext", nil, func() string { _, enc := good(); return body("", enc) }(), ""}, // bank_card is required
		{"zero padding", nil, wrongBlock(append([]byte(card), make([]byte, 13)...)), probPadding},
		{"padding byte 17", nil, wrongBlock(append([]byte(card[:15]), 17)), probPadding},
		{"inconsistent padding", nil, wrongBlock(append([]byte(card), 12, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13)), probPadding},
		{"decrypts to nothing", nil, wrongBlock(pad("")), probCardText},
		{"decrypts to non-text", nil, wrongBlock(pad("\xff\xfe")), probCardText},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := ts
			if tc.cfg != nil {
				target = newTestServer(t, *tc.cfg)
			}
			o := target.do(context.Background(), http.MethodPost, cardapi.Path, "", tc.body)
			if o.status != http.StatusBadRequest || o.errBody.Error.Code != "bad_request" {
				t.Fatalf("got %d %s, want 400 bad_request", o.status, o.body)
			}
			msg := o.errBody.Error.Message
			if tc.want != "" && msg != msgBadRequestPfx+tc.want {
				t.Fatalf("message %q, want %q", msg, msgBadRequestPfx+tc.want)
			}
			if strings.Contains(string(o.body), card) {
				t.Fatalf("the answer shows the card: %s", o.body)
			}
		})
	}
	if l := ts.sim.Ledger(); l.ByStatus["400"] != int64(len(cases)-1) || l.ByStatus["200"] != 4 {
		t.Fatalf("ledger %+v: want %d calls answered 400", l.ByStatus, len(cases)-1)
	}
}

// TestEncryptedWrongKeyPair: a client encrypting with another public key
// gets a fatal 400 bad_request that names the key problem and not the card.
func TestEncryptedWrongKeyPair(t *testing.T) {
	es := newEncServer(t, Config{DecryptionKey: testKeys()})
	c := encClient(t, es.srv.URL, &otherKeys().PublicKey, true)
	for _, card := range GenerateCards(11, 5) {
		o := c.Check(context.Background(), card)
		if o.Kind != cardapi.KindFatal || o.HTTPStatus != 400 || o.Code != "bad_request" || !strings.Contains(o.Message, "matching public key") {
			t.Fatalf("outcome %v %d %s %q", o.Kind, o.HTTPStatus, o.Code, o.Message)
		}
		if strings.Contains(o.Message+o.Excerpt, card) {
			t.Fatalf("the outcome shows the card")
		}
	}
	if l := es.sim.Ledger(); l.Charged != 0 || l.ByStatus["400"] != 5 {
		t.Fatalf("ledger %+v", l)
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRSAPrivateKey(t *testing.T) {
	priv := testKeys()
	dir := t.TempDir()
	pemOf := func(typ string, der []byte, h map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: h, Bytes: der})
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec8, _ := x509.MarshalPKCS8PrivateKey(ec)
	pkixDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	privPEM, pubPEM, err := GenerateTestKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, path string }{
		{"PKCS#1", writeFile(t, dir, "pkcs1.pem", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv), nil))},
		{"PKCS#8", writeFile(t, dir, "pkcs8.pem", pemOf("PRIVATE KEY", pkcs8, nil))},
	} {
		k, err := LoadRSAPrivateKey(tc.path)
		if err != nil || !k.Equal(priv) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	// GenerateTestKeyPair's files load on both sides and match.
	k, err := LoadRSAPrivateKey(writeFile(t, dir, "gen.key", privPEM))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cardapi.LoadRSAPublicKey(writeFile(t, dir, "gen.pub", pubPEM))
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("generated public key: %v", err)
	}

	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing file", filepath.Join(dir, "nope.pem"), []string{"nope.pem", "no such file"}},
		{"garbage", writeFile(t, dir, "garbage.pem", []byte("\x00\x01 not a key")), []string{"garbage.pem", "not a PEM file", "RSA PRIVATE KEY"}},
		{"PKCS#1 public key", writeFile(t, dir, "pub1.pem", pubPEM), []string{"pub1.pem", "public key", "private key"}},
		{"PKIX public key", writeFile(t, dir, "pub8.pem", pemOf("PUBLIC KEY", pkixDER, nil)), []string{"pub8.pem", "public key"}},
		{"passphrase-protected PKCS#1", writeFile(t, dir, "enc1.pem", pemOf("RSA PRIVATE KEY", []byte{1, 2, 3}, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"})), []string{"enc1.pem", "passphrase"}},
		{"encrypted PKCS#8", writeFile(t, dir, "enc8.pem", pemOf("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}, nil)), []string{"enc8.pem", "passphrase"}},
		{"ECDSA PKCS#8", writeFile(t, dir, "ec.pem", pemOf("PRIVATE KEY", ec8, nil)), []string{"ec.pem", "not an RSA key"}},
		{"corrupt PKCS#1", writeFile(t, dir, "corrupt.pem", pemOf("RSA PRIVATE KEY", []byte{0x30, 0}, nil)), []string{"corrupt.pem", "not a valid PKCS#1"}},
		{"certificate", writeFile(t, dir, "cert.pem", pemOf("CERTIFICATE", []byte{0x30, 0}, nil)), []string{"cert.pem", `"CERTIFICATE"`}},
	} {
		k, err := LoadRSAPrivateKey(tc.path)
		if err == nil || k != nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
}

func TestGenerateTestKeyPairTooSmall(t *testing.T) {
	if _, _, err := GenerateTestKeyPair(512); err == nil {
		t.Fatal("a 512-bit key was generated")
	}
}

// TestDecryptionKeyFlag: --decryption-key goes into DecryptionKeyFile;
// LoadKeys reads it; Validate insists on LoadKeys.
func TestDecryptionKeyFlag(t *testing.T) {
	dir := t.TempDir()
	privPEM, _, err := GenerateTestKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, dir, "sim.key", privPEM)

	var cfg Config
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	BindFlags(fs, &cfg)
	if err := fs.Parse([]string{"--decryption-key", keyFile}); err != nil {
		t.Fatal(err)
	}
	if cfg.DecryptionKeyFile != keyFile || cfg.DecryptionKey != nil {
		t.Fatalf("after Parse: file %q key %v", cfg.DecryptionKeyFile, cfg.DecryptionKey != nil)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "LoadKeys") {
		t.Fatalf("Validate before LoadKeys: %v", err)
	}
	if err := cfg.LoadKeys(); err != nil {
		t.Fatal(err)
	}
	if cfg.DecryptionKey == nil {
		t.Fatal("LoadKeys left DecryptionKey nil")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// No flag: nothing to load, and no key.
	var none Config
	if err := none.LoadKeys(); err != nil || none.DecryptionKey != nil || none.Validate() != nil {
		t.Fatalf("LoadKeys without a file: %v", err)
	}
	// A bad file: the error names it.
	bad := Config{DecryptionKeyFile: writeFile(t, dir, "bad.key", []byte("nope"))}
	if err := bad.LoadKeys(); err == nil || !strings.Contains(err.Error(), "bad.key") {
		t.Fatalf("LoadKeys(bad): %v", err)
	}
}

package sim

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"cardbatch/cardnum"
)

func TestBINTable(t *testing.T) {
	bins := BINs()
	if len(bins) < 40 {
		t.Fatalf("%d BINs, want at least 40", len(bins))
	}
	seen := map[string]bool{}
	types := map[int]int{}
	for i, b := range bins {
		if len(b.Prefix) != 6 || strings.Trim(b.Prefix, "0123456789") != "" {
			t.Errorf("entry %d: prefix %q is not 6 digits", i, b.Prefix)
		}
		if seen[b.Prefix] {
			t.Errorf("prefix %s twice", b.Prefix)
		}
		seen[b.Prefix] = true
		if strings.TrimSpace(b.Bank) == "" || b.Bank != strings.TrimSpace(b.Bank) {
			t.Errorf("prefix %s: bank %q", b.Prefix, b.Bank)
		}
		for _, r := range b.Bank {
			if r > 127 {
				t.Errorf("prefix %s: bank name %q is not plain English", b.Prefix, b.Bank)
				break
			}
		}
		if b.Type < 1 || b.Type > 4 {
			t.Errorf("prefix %s: type %d", b.Prefix, b.Type)
		}
		if b.Length < cardnum.MinDigits || b.Length > cardnum.MaxDigits {
			t.Errorf("prefix %s: length %d", b.Prefix, b.Length)
		}
		types[b.Type]++
	}
	for typ := 1; typ <= 4; typ++ {
		if types[typ] == 0 {
			t.Errorf("no BIN of account type %d", typ)
		}
	}
	if bins[0].Bank != "Industrial and Commercial Bank of China" {
		t.Errorf("the table does not start with ICBC: %+v", bins[0])
	}
	chinese := []string{bankICBC, bankABC, bankBOC, bankCCB, bankCMB, bankBoCom, bankPSBC, bankCITIC, bankCEB,
		bankCMBC, bankPAB, bankSPDB, bankCIB, bankCGB, bankHXB, bankBOB}
	for _, name := range chinese {
		if !slices.ContainsFunc(bins, func(b BIN) bool { return b.Bank == name }) {
			t.Errorf("no BIN for %s", name)
		}
	}
	// Chinese banks first, then the international issuers.
	isChinese := func(b BIN) bool { return slices.Contains(chinese, b.Bank) }
	firstIntl := slices.IndexFunc(bins, func(b BIN) bool { return !isChinese(b) })
	if firstIntl < 40 || slices.ContainsFunc(bins[firstIntl:], isChinese) {
		t.Errorf("international issuers start at entry %d, or Chinese banks follow them", firstIntl)
	}
	if len(bins)-firstIntl < 3 {
		t.Errorf("only %d international issuers", len(bins)-firstIntl)
	}
	bins[0].Bank = "changed"
	if BINs()[0].Bank == "changed" {
		t.Error("BINs returns the table itself")
	}
}

func TestGenerateCards(t *testing.T) {
	const n = 5000
	cards := GenerateCards(1, n)
	if len(cards) != n {
		t.Fatalf("%d cards", len(cards))
	}
	if again := GenerateCards(1, n); !slices.Equal(cards, again) {
		t.Error("GenerateCards is not deterministic")
	}
	if short := GenerateCards(1, 100); !slices.Equal(short, cards[:100]) {
		t.Error("a shorter list is not a prefix of the longer one")
	}
	if other := GenerateCards(2, 100); slices.Equal(other, cards[:100]) {
		t.Error("another seed gives the same cards")
	}
	if len(GenerateCards(1, 0)) != 0 || GenerateCards(1, -1) == nil {
		t.Error("n <= 0 must give an empty, non-nil slice")
	}
	seen := map[string]bool{}
	lengths := map[int]int{}
	known := 0
	for _, c := range cards {
		if err := cardnum.Validate(c, true); err != nil {
			t.Fatalf("%s: %v", maskForTest(c), err)
		}
		if seen[c] {
			t.Fatalf("%s twice", maskForTest(c))
		}
		seen[c] = true
		lengths[len(c)]++
		if answers.lookupPrefix(c) != nil {
			known++
		}
	}
	if share := float64(known) / n; share < 0.8 || share > 0.9 {
		t.Errorf("%.1f%% of cards from the table, want about 85%%", 100*share)
	}
	if share := float64(lengths[16]+lengths[19]) / n; share < 0.75 {
		t.Errorf("16 and 19 digits: %.1f%%, want most (%v)", 100*share, lengths)
	}
	if lengths[15] == 0 || lengths[13] == 0 {
		t.Errorf("no 15- or 13-digit cards: %v", lengths)
	}
	for l := range lengths {
		if !slices.Contains([]int{13, 15, 16, 18, 19}, l) {
			t.Errorf("unexpected length %d", l)
		}
	}
	// GenerateCard follows its rng.
	a := GenerateCard(rand.New(rand.NewPCG(9, 9)))
	b := GenerateCard(rand.New(rand.NewPCG(9, 9)))
	if a != b || !cardnum.Luhn(a) {
		t.Errorf("GenerateCard: %s, %s", maskForTest(a), maskForTest(b))
	}
}

func TestEncodingHelpers(t *testing.T) {
	t.Run("JSON strings", func(t *testing.T) {
		for _, s := range []string{"", "plain", `quote " back \ slash`, "ctl \x00\x01\n\t\x1f", "中文 ok", "bad \xff utf8", "<&>"} {
			b := appendJSONString(nil, s)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%q -> %s: %v", s, b, err)
			}
			want := strings.ToValidUTF8(s, "\uFFFD")
			if got != want {
				t.Errorf("%q round-trips to %q", s, got)
			}
		}
	})
	t.Run("trace ids", func(t *testing.T) {
		ids := map[string]bool{}
		for i := range 1000 {
			d := cardDraws(uint64(i), 0)
			id := string(appendTraceID(nil, d.trace))
			if !traceIDRe.MatchString(id) {
				t.Fatalf("trace id %q", id)
			}
			ids[id] = true
		}
		if len(ids) != 1000 {
			t.Errorf("%d distinct trace ids of 1000", len(ids))
		}
	})
	t.Run("error body", func(t *testing.T) {
		b := appendError(nil, "api_error", "Oops \"quoted\"", [2]uint64{1, 2}, true)
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		var m struct {
			Success *bool `json:"success"`
			Error   struct{ Code, Message string }
			TraceID string `json:"trace_id"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Success == nil || *m.Success || m.Error.Code != "api_error" || m.Error.Message != `Oops "quoted"` {
			t.Errorf("%s -> %+v %v", b, m, err)
		}
	})
}

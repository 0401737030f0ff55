package cardnum

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks the properties the rest of cardbatch relies on, for
// any two cell values a and b:
//   - Normalize is idempotent (the pipeline, the detector and the simulator
//     may each normalise a value that is already normalised);
//   - its output holds no spaces, tabs, dashes, dots or full-width digits;
//   - a valid card (Validate(Normalize(a)) == nil) has a Key, and Key is
//     injective: two valid cards share a key exactly when they are equal;
//   - Mask of a valid card keeps its length, shows exactly the first six
//     and last four digits (first and last two for a 12-digit card, as
//     Mask documents), and never the whole card.
//
// Seeds are in testdata/fuzz/FuzzNormalize.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "４１１１１１１１１１１１１１１１",
		"'6222021234567890128", " '6222 0212 3456 7890 128 ", "6222\u00a00212\u3000345678\u200b90128",
		"000000000000", "0000000000000", "123456789015", "6.22848E+15", "", "'", "-", "abc",
	} {
		f.Add(s, "4111111111111111")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		na := Normalize(a)
		if again := Normalize(na); again != na {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q", a, na, again)
		}
		if i := strings.IndexAny(na, " \t\u00a0\u3000-－.．_"); i >= 0 {
			t.Fatalf("Normalize(%q) = %q still holds %q", a, na, na[i:])
		}
		for _, r := range na {
			if r >= '０' && r <= '９' {
				t.Fatalf("Normalize(%q) = %q still holds a full-width digit", a, na)
			}
		}
		if !utf8.ValidString(a) || Validate(na, true) != nil {
			if _, ok := Key(na); ok && Validate(na, false) != nil {
				t.Fatalf("Key(%q) ok for a value Validate rejects", na)
			}
			return
		}
		ka, ok := Key(na)
		if !ok {
			t.Fatalf("Key(%q) not ok for a valid card", na)
		}
		if nb := Normalize(b); Validate(nb, true) == nil {
			kb, ok := Key(nb)
			if !ok {
				t.Fatalf("Key(%q) not ok for a valid card", nb)
			}
			if (ka == kb) != (na == nb) {
				t.Fatalf("Key(%q) = %d, Key(%q) = %d", na, ka, nb, kb)
			}
		}
		m := Mask(na)
		head, tail := 6, 4
		if len(na) < 13 {
			head, tail = 2, 2
		}
		want := na[:head] + strings.Repeat("*", len(na)-head-tail) + na[len(na)-tail:]
		if m != want || m == na {
			t.Fatalf("Mask(%q) = %q, want %q", na, m, want)
		}
	})
}

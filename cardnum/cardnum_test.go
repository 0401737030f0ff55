package cardnum

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeAndValidate(t *testing.T) {
	const visa = "4111111111111111" // Luhn-valid
	tests := []struct {
		name string
		raw  string
		want string // Normalize(raw)
		err  error  // Validate(want, true); nil = valid
	}{
		{"plain digits", visa, visa, nil},
		{"spaces", "4111 1111 1111 1111", visa, nil},
		{"surrounding spaces and tabs", " \t4111 1111 1111 1111\t ", visa, nil},
		{"dashes", "4111-1111-1111-1111", visa, nil},
		{"typographic dashes and underscores", "4111‐1111–1111—1111_", visa, nil},
		{"dots", "4111.1111.1111.1111", visa, nil},
		{"full-width digits", "４１１１１１１１１１１１１１１１", visa, nil},
		{"full-width digits, spaces and dashes", "４１１１　１１１１－１１１１．１１１１", visa, nil},
		{"no-break spaces", "4111\u00a01111\u00a01111\u202f1111", visa, nil},
		{"zero-width space and BOM", "\ufeff4111\u200b1111 1111 1111", visa, nil},
		{"leading apostrophe (Excel text marker)", "'4111111111111111", visa, nil},
		{"apostrophe after spaces", "  '4111 1111 1111 1111 ", visa, nil},
		// An invisible character before Excel's apostrophe (a cell pasted
		// from a web page or a BOM-prefixed export) or after a trailing
		// carriage return must not hide the card: the visible text is the
		// same as the cases above. (Normalize trims before it removes the
		// invisible characters, so these come out as "'4111…" / "4111…\r",
		// ErrNonDigit, and only a second Normalize fixes them.)
		{"zero-width space before the apostrophe", "\u200b'4111111111111111", visa, nil},
		{"BOM before the apostrophe", "\ufeff'4111111111111111", visa, nil},
		{"carriage return then zero-width space", "4111111111111111\r\u200b", visa, nil},
		{"19 digits", "6222 0212 3456 7890 128", "6222021234567890128", nil},
		{"12 digits", "1234 5678 9015", "123456789015", nil},
		{"11 digits: short", "4111 1111 111", "41111111111", ErrLength},
		{"20 digits: long", "41111111111111111113", "41111111111111111113", ErrLength},
		{"Luhn failure", "4111 1111 1111 1112", "4111111111111112", ErrLuhn},
		{"letters", "4111-abcd-1111-1111", "4111abcd11111111", ErrNonDigit},
		{"an apostrophe inside", "4111'1111'1111'1111", "4111'1111'1111'1111", ErrNonDigit},
		{"scientific notation", "6.22848E+15", "622848E+15", ErrNonDigit},
		{"empty", "", "", ErrEmpty},
		{"separators only", " - . ", "", ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(tt.raw)
			if got != tt.want {
				t.Fatalf("Normalize(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			if again := Normalize(got); again != got {
				t.Errorf("Normalize is not idempotent: %q -> %q -> %q", tt.raw, got, again)
			}
			err := Validate(got, true)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("Validate(%q) = %v, want %v", got, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), got) && len(got) >= MinDigits {
				t.Errorf("Validate's error names the card: %v", err)
			}
			if LooksLikeCard(tt.raw) != (Validate(got, false) == nil) {
				t.Errorf("LooksLikeCard(%q) = %v disagrees with Validate(luhn=false)", tt.raw, LooksLikeCard(tt.raw))
			}
		})
	}
}

func TestValidateWithoutLuhn(t *testing.T) {
	if err := Validate("4111111111111112", false); err != nil {
		t.Errorf("Validate(luhn=false) of a Luhn failure = %v, want nil", err)
	}
	if err := Validate("411111111111111a", false); !errors.Is(err, ErrNonDigit) {
		t.Errorf("Validate(luhn=false) of a letter = %v, want ErrNonDigit", err)
	}
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		digits string
		ok     bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"6222021234567890128", true},
		{"79927398713", true},
		{"79927398710", false},
		{"0", true},
		{"", false},
		{"4111a11111111111", false},
		{"４", false},
	}
	for _, tt := range tests {
		if got := Luhn(tt.digits); got != tt.ok {
			t.Errorf("Luhn(%q) = %v, want %v", tt.digits, got, tt.ok)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"1234", "****"},
		{"12345", "12*45"},
		{"123456789012", "12********12"},               // 12 digits: 2 + 2 shown
		{"1234567890123", "123456***0123"},             // 13: 6 + 4
		{"4111111111111111", "411111******1111"},       // 16
		{"6222021234567890128", "622202*********0128"}, // 19
		{"４１１１１１１１１１１１１１１１", "４１１１１１******１１１１"}, // runes, not bytes
	}
	for _, tt := range tests {
		got := Mask(tt.in)
		if got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len([]rune(got)) != len([]rune(tt.in)) {
			t.Errorf("Mask(%q) changed the length: %q", tt.in, got)
		}
		if tt.in != "" && got == tt.in {
			t.Errorf("Mask(%q) shows it whole", tt.in)
		}
	}
}

func TestKey(t *testing.T) {
	// Same value, different lengths: different keys.
	distinct := []string{"000000000000", "0000000000000", "00000000000000", "000000000001", "0000000000001",
		"100000000000", "999999999999", "1000000000000", "9999999999999999999", "0999999999999999999",
		"4111111111111111", "04111111111111111", "411111111111111100"}
	seen := map[uint64]string{}
	for _, d := range distinct {
		k, ok := Key(d)
		if !ok {
			t.Fatalf("Key(%q) not ok", d)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("Key(%q) == Key(%q) == %d", d, prev, k)
		}
		seen[k] = d
	}
	// The ranges of consecutive lengths touch without overlapping: the
	// largest L-digit number is just below the smallest (L+1)-digit one.
	for l := MinDigits; l < MaxDigits; l++ {
		hi, _ := Key(strings.Repeat("9", l))
		lo, _ := Key(strings.Repeat("0", l+1))
		if hi+1 != lo {
			t.Errorf("length %d ends at %d, length %d starts at %d", l, hi, l+1, lo)
		}
	}
	if k, _ := Key("000000000000"); k != 0 {
		t.Errorf("Key of twelve zeros = %d, want 0", k)
	}
	top, _ := Key(strings.Repeat("9", MaxDigits))
	if below, _ := Key(strings.Repeat("9", MaxDigits-1)); top <= below {
		t.Errorf("Key overflows for 19 digits: %d <= %d", top, below)
	}
	for _, bad := range []string{"", "41111111111", "41111111111111111111", "4111 1111 1111 1111", "411111111111111a", "４１１１１１１１１１１１"} {
		if _, ok := Key(bad); ok {
			t.Errorf("Key(%q) ok, want not ok", bad)
		}
	}
}

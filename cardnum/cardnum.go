// Package cardnum normalises, validates and masks bank card numbers. It is
// the single place that decides what a card number is and the single place
// that turns one into something safe to show (Mask).
package cardnum

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits of a card number, in digits.
const (
	MinDigits = 12
	MaxDigits = 19
)

// Errors returned by Validate. Their texts name no card number.
var (
	ErrEmpty    = errors.New("no card number in this row")
	ErrNonDigit = errors.New("card number has characters other than digits, spaces, dashes and dots")
	ErrLength   = errors.New("card number must have 12 to 19 digits")
	ErrLuhn     = errors.New("card number fails the Luhn check (use --no-luhn to send it anyway)")
)

// Normalize removes white space of every kind (including no-break,
// full-width and thin spaces, tabs and line breaks), invisible format
// characters (zero-width space, BOM), dashes (ASCII, full-width and
// typographic), dots, and leading apostrophes (Excel's text marker), and
// turns full-width digits into ASCII digits. It does not validate: other
// characters are kept, so Validate can reject them. Normalize is idempotent.
func Normalize(raw string) string {
	// Fast path: already plain ASCII digits.
	plain := true
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			plain = false
			break
		}
	}
	if plain {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for _, r := range raw {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteByte(byte('0' + (r - '０')))
		case unicode.IsSpace(r), unicode.Is(unicode.Cf, r), r == '\u200b':
		case r == '-', r == '－', r == '‐', r == '‑', r == '‒', r == '–', r == '—', r == '_':
		case r == '.', r == '．', r == '。':
		case (r == '\'' || r == '’') && b.Len() == 0: // Excel's text marker, before anything else
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Validate checks a normalised card number: digits only, 12 to 19 of them,
// and (when luhn is true) a valid Luhn check digit. It returns nil or one of
// the Err values above.
func Validate(digits string, luhn bool) error {
	if digits == "" {
		return ErrEmpty
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return ErrNonDigit
		}
	}
	if len(digits) < MinDigits || len(digits) > MaxDigits {
		return fmt.Errorf("%w (this one has %d)", ErrLength, len(digits))
	}
	if luhn && !Luhn(digits) {
		return ErrLuhn
	}
	return nil
}

// Luhn reports whether an all-digit string passes the Luhn (mod 10) check.
func Luhn(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(digits) > 0 && sum%10 == 0
}

// Mask returns a form of a card number that is safe to show: the first six
// and last four digits with the rest as '*' (622848******1234). Strings of
// fewer than 13 characters keep at most their first two and last two
// characters, so a short or damaged value is never shown whole either.
func Mask(card string) string {
	n := utf8.RuneCountInString(card)
	if n == 0 {
		return ""
	}
	r := []rune(card)
	keepHead, keepTail := 6, 4
	if n < 13 {
		keepHead, keepTail = 2, 2
		if n <= 4 {
			keepHead, keepTail = 0, 0
		}
	}
	out := make([]rune, n)
	for i := range r {
		if i < keepHead || i >= n-keepTail {
			out[i] = r[i]
		} else {
			out[i] = '*'
		}
	}
	return string(out)
}

// Key returns an injective 64-bit key for a valid card number (12 to 19
// ASCII digits): two different card numbers never share a key, so it can
// replace the number in an in-memory duplicate set. ok is false for any
// other string.
func Key(digits string) (key uint64, ok bool) {
	n := len(digits)
	if n < MinDigits || n > MaxDigits {
		return 0, false
	}
	// Numbers of length L occupy [offset(L), offset(L)+10^L); the ranges for
	// L = 12..19 are disjoint and their total (about 1.11e19) fits in uint64.
	var v uint64
	for i := 0; i < n; i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	var offset, pow uint64 = 0, 1_000_000_000_000 // 10^12
	for l := MinDigits; l < n; l++ {
		offset += pow
		pow *= 10
	}
	return offset + v, true
}

// LooksLikeCard reports whether a raw cell value, once normalised, is a
// plausible card number (12 to 19 digits); used to find the card column.
func LooksLikeCard(raw string) bool {
	d := Normalize(raw)
	return Validate(d, false) == nil
}

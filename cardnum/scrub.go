package cardnum

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scrub returns s with every card number in it masked, whatever its
// spelling. A card is found as a group of digits (ASCII or full-width,
// U+FF10..U+FF19) joined by separators: white space of every kind (NBSP and
// tabs included), invisible format characters, dashes, dots, slashes,
// underscores and commas, in any mix and number. A group of MinDigits or
// more digits is replaced by Mask of its digits in ASCII, without the
// separators (6228 4816 6131 8605 becomes 622848******8605); a longer run is
// masked the same way, so no MinDigits consecutive digits survive. The rest
// of s, invalid UTF-8 included, is returned byte for byte; text without
// digits comes back unchanged.
func Scrub(s string) string {
	first := firstDigit(s)
	if first < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:first])
	var digits []byte
	for i := first; i < len(s); {
		d, size := digitAt(s, i)
		if d < 0 {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		var end int
		end, digits = digitGroup(s, i, digits[:0])
		if len(digits) >= MinDigits {
			b.WriteString(Mask(string(digits)))
		} else {
			b.WriteString(s[i:end])
		}
		i = end
	}
	return b.String()
}

// digitGroup reads the group of digits and separators that starts with the
// digit at s[i]: it returns the end of its last digit and appends its
// digits, in ASCII, to digits.
func digitGroup(s string, i int, digits []byte) (int, []byte) {
	end := i
	for j := i; j < len(s); {
		d, size := digitAt(s, j)
		if d >= 0 {
			digits = append(digits, byte('0'+d))
			j += size
			end = j
		} else if isSeparator(s, j) {
			j += size
		} else {
			break
		}
	}
	return end, digits
}

// firstDigit returns the byte offset of the first digit of s, or -1.
func firstDigit(s string) int {
	for i := 0; i < len(s); {
		d, size := digitAt(s, i)
		if d >= 0 {
			return i
		}
		i += size
	}
	return -1
}

// digitAt returns the value of the digit at s[i] (ASCII or full-width) and
// the size of the rune there; the value is -1 for anything else.
func digitAt(s string, i int) (int, int) {
	if c := s[i]; c < utf8.RuneSelf {
		if c >= '0' && c <= '9' {
			return int(c - '0'), 1
		}
		return -1, 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r >= '０' && r <= '９' {
		return int(r - '０'), size
	}
	return -1, size
}

// isSeparator reports whether the rune at s[i] may stand between the digits
// of a card number.
func isSeparator(s string, i int) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return false
	}
	switch r {
	case '.', '．', '。', '·', '/', '／', '\\', '＼', '_', '＿', ',', '，':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Pd, r)
}

// SafeText returns s scrubbed of card numbers (Scrub) and with every
// character that could steer a terminal or forge a log line escaped: C0
// controls (ESC, CR, LF and tab included) and DEL, C1 controls, the line
// and paragraph separators, the bidirectional overrides, embeddings,
// isolates and marks, and bytes that are not UTF-8. They are written as Go
// escapes (\n, \r, \t, \x1b, \u202e). Use it for any text from outside
// (server answers, input cells) before it reaches a terminal or a log.
func SafeText(s string) string {
	s = Scrub(s)
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	// The digits of an escape could join digits around it into a long run:
	// scrub once more.
	return Scrub(b.String())
}

// needsEscape reports whether SafeText has anything to escape in s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || isControl(r) {
			return true
		}
		i += size
	}
	return false
}

// isControl reports whether r is a character that SafeText escapes.
func isControl(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069': // bidi embeddings, overrides, isolates
		return true
	case r == '\u200e', r == '\u200f', r == '\u061c': // bidi marks
		return true
	}
	return false
}

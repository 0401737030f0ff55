package cardnum

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrub(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "card 6228481661318605 failed", "card 622848******8605 failed"},
		{"spaces", "6228 4816 6131 8605", "622848******8605"},
		{"nbsp", "6228\u00a04816\u00a06131\u00a08605", "622848******8605"},
		{"tabs", "no\t6228\t4816\t6131\t8605\tok", "no\t622848******8605\tok"},
		{"dashes", "6228-4816-6131-8605", "622848******8605"},
		{"en dash", "6228–4816–6131–8605", "622848******8605"},
		{"dots", "no 6259.6575.4323.1940", "no 625965******1940"},
		{"slashes", "6228/4816/6131/8605", "622848******8605"},
		{"underscores", "id:6228_4816_6131_8605", "id:622848******8605"},
		{"full-width", "卡号６２２８４８１６６１３１８６０５。", "卡号622848******8605。"},
		{"mixed", "6228 -\u00a04816./6131_\t８６０５", "622848******8605"},
		{"zero-width", "6228\u200b4816\u200b6131\u200b8605", "622848******8605"},
		{"19 digits", "6222021234567890128", "622202*********0128"},
		{"12 digits", "1234 5678 9012", "12********12"},
		{"longer than a card", "12345678901234567890123", "123456*************0123"},
		{"two cards", "a 6228481661318605 b 4111-1111-1111-1111", "a 622848******8605 b 411111******1111"},
		{"11 digits kept", "call 138 0013 8000 now", "call 138 0013 8000 now"},
		{"date kept", "at 2024-03-15 12:00:00", "at 2024-03-15 12:00:00"},
		{"separators at the edges kept", "- 1234 -", "- 1234 -"},
		{"no digits", "中国银行\t-- ok", "中国银行\t-- ok"},
		{"invalid utf-8 kept", "\xff12\xfe", "\xff12\xfe"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Scrub(tt.in); got != tt.want {
				t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSafeText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"forged log line", "Bank\nlevel=INFO msg=done", `Bank\nlevel=INFO msg=done`},
		{"carriage return", "ok\rlevel=ERROR", `ok\rlevel=ERROR`},
		{"escape sequence", "\x1b[2J\x1b[31mred", `\x1b[2J\x1b[31mred`},
		{"C1 CSI", "a\u009b31mb", `a\x9b31mb`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"bidi isolate", "x\u2066y\u2069", `x\u2066y\u2069`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"DEL and NUL", "a\x7f\x00b", `a\x7f\x00b`},
		{"invalid byte", "a\xffb", `a\xffb`},
		{"card split by tabs is masked before escaping", "6228\t4816\t6131\t8605", "622848******8605"},
		{"card and newline", "6228 4816 6131 8605\nx", `622848******8605\nx`},
		{"plain text unchanged", "中国银行 借记卡 (ok)", "中国银行 借记卡 (ok)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeText(tt.in); got != tt.want {
				t.Errorf("SafeText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// foldedDigitRun returns the longest run of digits in s once separators
// are removed and full-width digits folded, as a reader would piece a card
// back together. Its separator set is written out here, apart from the
// one Scrub uses.
func foldedDigitRun(s string) int {
	best, run := 0, 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= '０' && r <= '９':
			run++
			best = max(best, run)
		case strings.ContainsRune(" \t\n\r\v\f\u00a0\u3000\u2000\u2007\u202f\u200b\u200c\u200d\ufeff\u2060-‐‑‒–—―－.．。·/／\\＼_＿,，", r):
		default:
			run = 0
		}
	}
	return best
}

// FuzzScrub holds Scrub and SafeText to their promises for any text:
//   - no run of MinDigits or more digits survives, with separators removed
//     and full-width digits folded;
//   - text without digits is returned unchanged by Scrub;
//   - Scrub is idempotent;
//   - SafeText's output holds no control character, bidi control or
//     invalid UTF-8, and no long digit run either.
func FuzzScrub(f *testing.F) {
	for _, s := range []string{
		"6228 4816 6131 8605", "id:6228_4816_6131_8605", "no 6259.6575.4323.1940", "６２２８４８１６６１３１８６０５",
		"6228\t4816\u00a06131-8605", "\x1b[31m6228481661318605\n", "\x01" + "2345678901", "abc", "", "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Scrub(s)
		if n := foldedDigitRun(got); n >= MinDigits {
			t.Fatalf("Scrub(%q) = %q keeps a run of %d digits", s, got, n)
		}
		if !strings.ContainsFunc(s, func(r rune) bool { return r >= '0' && r <= '9' || r >= '０' && r <= '９' }) && got != s {
			t.Fatalf("Scrub(%q) = %q changed text without digits", s, got)
		}
		if again := Scrub(got); again != got {
			t.Fatalf("Scrub is not idempotent: %q -> %q -> %q", s, got, again)
		}
		safe := SafeText(s)
		if !utf8.ValidString(safe) {
			t.Fatalf("SafeText(%q) = %q is not valid UTF-8", s, safe)
		}
		for _, r := range safe {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || r == '\u2028' || r == '\u2029' ||
				r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' {
				t.Fatalf("SafeText(%q) = %q keeps control character %U", s, safe, r)
			}
		}
		if n := foldedDigitRun(safe); n >= MinDigits {
			t.Fatalf("SafeText(%q) = %q keeps a run of %d digits", s, safe, n)
		}
	})
}

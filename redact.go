package main

import (
	"log/slog"
	"strings"

	"cardbatch/cardnum"
)

// redactor makes text of unknown origin safe to print: card numbers in any
// spelling masked, the token replaced; a log line's control characters
// escaped. The file paths the user gave are kept as written: a message must
// name them, and the digits of a folder name are not a card.
type redactor struct {
	token string
	keep  []string
}

// keepPaths adds paths to keep whole; a path that itself reads as a valid
// card number is not kept.
func (r *redactor) keepPaths(paths ...string) {
	for _, p := range paths {
		if len(p) < 4 || strings.Trim(p, "./\\") == "" || strings.Contains(p, "://") {
			continue // too short to tell from text, or a URL (it may hold a password)
		}
		if d := cardnum.Normalize(p); cardnum.Validate(d, true) == nil {
			continue
		}
		r.keep = append(r.keep, p)
	}
}

// text masks the card numbers in s (multi-line text such as a stack).
func (r *redactor) text(s string) string { return r.apply(s, cardnum.Scrub) }

// line is text for one log or terminal line: control characters escaped.
func (r *redactor) line(s string) string { return r.apply(s, cardnum.SafeText) }

func (r *redactor) apply(s string, safe func(string) string) string {
	if len(r.token) >= 8 { // a shorter "token" (only ever a test's) would mangle words
		s = strings.ReplaceAll(s, r.token, "[token]")
	}
	var b strings.Builder
	for s != "" {
		at, k := len(s), ""
		for _, p := range r.keep {
			if i := strings.Index(s, p); i >= 0 && (i < at || i == at && len(p) > len(k)) {
				at, k = i, p
			}
		}
		b.WriteString(safe(s[:at]))
		b.WriteString(k)
		s = s[at+len(k):]
	}
	return b.String()
}

// attr is the logger's last line of defence: every string attribute and
// error goes through line.
func (r *redactor) attr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); r.line(s) != s {
			return slog.String(a.Key, r.line(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, r.line(err.Error()))
		}
	}
	return a
}

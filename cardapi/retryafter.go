package cardapi

import (
	"cardbatch/cardnum"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// parseRetryAfter returns the delay a Retry-After header value asks for:
// delta-seconds (fractions accepted: "1.5") or an HTTP-date relative to now.
// An absent, negative, past or unparsable value gives 0; the result is
// clamped to [0, MaxRetryAfter].
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDeltaSeconds(v) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return 0
		}
		if f >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter
		}
		return time.Duration(f * float64(time.Second))
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > MaxRetryAfter:
		return MaxRetryAfter
	}
	return d
}

// isDeltaSeconds reports whether v is digits with at most one decimal point
// and at least one digit (no sign, no exponent, no "Inf" or "NaN").
func isDeltaSeconds(v string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// redacted replaces the token in texts that come from the server.
const redacted = "[redacted]"

// minScrubToken is the shortest token scrubbed from server texts: a
// shorter one (only ever a test's) would mangle ordinary words.
const minScrubToken = 8

// scrub returns s with every occurrence of card replaced by its masked form
// and of the token (when at least minScrubToken long) by "[redacted]".
func (c *Client) scrub(s, card string) string {
	// Repeat: a card that occurs twice, overlapping (4242424242424242 in
	// "424242424242 4242424242424242" run together), survives one pass.
	for card != "" && strings.Contains(s, card) {
		s = strings.ReplaceAll(s, card, maskCard(card))
	}
	if len(c.token) >= minScrubToken && strings.Contains(s, c.token) {
		s = strings.ReplaceAll(s, c.token, redacted)
	}
	return s
}

// excerpt returns a short printable excerpt of an unexpected body: at most
// excerptLimit bytes of valid UTF-8, control and format characters turned
// into spaces, runs of white space collapsed, card and token masked.
func (c *Client) excerpt(data []byte, card string) string {
	if len(data) == 0 {
		return "(empty body)"
	}
	// Scrub a window somewhat larger than the excerpt, so that a card or
	// token straddling the cut is still recognised and masked.
	n := excerptLimit + len(card) + len(c.token) + utf8.UTFMax
	if n > len(data) {
		n = len(data)
	}
	s := c.scrub(string(data[:n]), card)
	var b strings.Builder
	b.Grow(excerptLimit)
	space := false
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			if b.Len()+1 >= excerptLimit {
				break
			}
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > excerptLimit {
			break
		}
		b.WriteRune(r) // an invalid byte was decoded as U+FFFD
	}
	if b.Len() == 0 {
		return "(blank body)"
	}
	return b.String()
}

// maskCard is cardnum.Mask: the one masking function of the project.
func maskCard(card string) string { return cardnum.Mask(card) }

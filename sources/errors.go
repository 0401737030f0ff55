package sources

import (
	"errors"
	"fmt"
	"strings"

	"cardbatch/cardnum"
)

// InputError is a problem with the input that the user must fix (exit code
// 2): nothing has been sent when it is returned. Error names the file and the
// problem and says what to do; it never contains a whole card number (header
// cells that look like card numbers are masked when listed).
type InputError struct {
	Path    string   // the input file, as given
	Problem string   // what is wrong, e.g. "has a header but no data rows"
	Hint    string   // what to do about it; may be empty
	Columns []string // the header seen, when relevant (listed by Error)
	Err     error    // the underlying error, if any (returned by Unwrap, not printed)
}

// Error returns "PATH PROBLEM (columns seen: ...): HINT", with any card
// number in the problem, the columns or the hint masked (cardnum.Scrub).
func (e *InputError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		if isPredicate(e.Problem) {
			b.WriteString(" ")
		} else {
			b.WriteString(": ")
		}
	}
	b.WriteString(cardnum.Scrub(e.Problem))
	if len(e.Columns) > 0 {
		b.WriteString(" (columns seen: ")
		b.WriteString(quoteColumns(e.Columns))
		b.WriteString(")")
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(cardnum.Scrub(e.Hint))
	}
	return b.String()
}

// isPredicate reports whether a problem text reads as a predicate of the
// file ("is empty", "has a header but no data rows"), so that Error writes
// "data.csv is empty" rather than "data.csv: is empty".
func isPredicate(problem string) bool {
	verb, _, _ := strings.Cut(problem, " ")
	switch verb {
	case "is", "has", "does", "holds", "contains", "cannot", "looks":
		return true
	}
	return false
}

// Unwrap returns the underlying error, if any.
func (e *InputError) Unwrap() error { return e.Err }

// IsInputError reports whether err is or wraps an *InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// quoteColumns renders a header for a message: each name quoted, card-like
// cells masked, at most 30 names.
func quoteColumns(cols []string) string {
	const maxShown = 30
	parts := make([]string, 0, min(len(cols), maxShown)+1)
	for i, c := range cols {
		if i == maxShown {
			parts = append(parts, fmt.Sprintf("… %d more", len(cols)-maxShown))
			break
		}
		parts = append(parts, fmt.Sprintf("%d=%q", i+1, safeText(c)))
	}
	return strings.Join(parts, ", ")
}

// safeText returns s with any card number in it masked (cardnum.Scrub
// finds one in any spelling; a number a spreadsheet has rounded, such as
// 6.22848E+15, is masked whole), shortened when it is long. Callers quote
// it with %q, which escapes control characters.
func safeText(s string) string {
	if looksLikeMangledCard(s) {
		return cardnum.Mask(s)
	}
	s = cardnum.Scrub(s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:37]) + "…"
	}
	return s
}

// sizeText renders a byte count for messages: "1 MiB", "64 KiB", "1000 bytes".
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

package sources

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"cardbatch/cardnum"
)

// peekRecords is how many non-blank records Open reads ahead to find the
// header and the card column: the header candidate and 200 more.
const peekRecords = 201

// peekBytes bounds the look-ahead in bytes as well, so that 201 huge records
// cannot fill the memory; at least two records are always read.
const peekBytes = 4 << 20

// peekFull reports whether the look-ahead has enough: peekRecords records,
// or peekBytes of field data in two or more.
func peekFull(recs []record, size int) bool {
	return len(recs) >= peekRecords || (len(recs) >= 2 && size >= peekBytes)
}

// recordSize returns the bytes of a record's fields.
func recordSize(fields []string) int {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	return n
}

// contentSample is how many non-empty cells of a column are looked at when
// the card column is found by content.
const contentSample = 200

// contentShare is the share of those cells that must look like card numbers.
const contentShare = 0.6

// record is one non-blank record of the input, before header handling.
type record struct {
	fields []string
	line   int // 1-based line (text) or sheet row number (XLSX)
}

// layout is what detectLayout decided.
type layout struct {
	header    []string
	hasHeader bool
	cardCol   int
	notes     []string
}

// cardNames are the normalised header names that mean "card number",
// matched exactly before anything else.
var cardNames = map[string]bool{
	"card": true, "cardno": true, "cardnumber": true, "cardnum": true,
	"bankcard": true, "bankcardno": true, "bankcardnumber": true,
	"pan": true, "accountno": true, "acctno": true,
	"卡号": true, "银行卡号": true, "银行卡": true, "卡号码": true, "账号": true, "银行账号": true,
}

// notCardWords rule a header out of the "contains card" match: they name
// something about a card that is not its number.
var notCardWords = []string{"holder", "name", "type", "expir", "cvv", "cvc", "issuer", "brand", "status", "idcard", "身份证", "持卡人"}

// normalizeName lowercases a header name and strips spaces, underscores,
// dashes, dots and the BOM, for matching.
func normalizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsSpace(r), r == '_', r == '-', r == '.', r == '\uFEFF', r == '\u200B',
			r == '－', r == '＿', r == '．', r == '。':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cleanHeader trims a header cell of spaces and BOMs.
func cleanHeader(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\uFEFF' || r == '\u200B'
	})
}

// cellLooksLikeCard reports whether a cell looks like a card number, or like
// one that a spreadsheet turned into scientific notation (6.22848E+15).
func cellLooksLikeCard(v string) bool {
	return cardnum.LooksLikeCard(v) || looksLikeMangledCard(v) || cardnum.LooksLikeCard(ungroup(v))
}

// ungroup removes the thousands separators of a number shown by a
// spreadsheet as "622,836,929,084"; other text is returned unchanged.
func ungroup(v string) string {
	v = strings.TrimSpace(v)
	groups := strings.Split(v, ",")
	if len(groups) < 2 || len(groups[0]) == 0 || len(groups[0]) > 3 {
		return v
	}
	for i, g := range groups {
		if (i > 0 && len(g) != 3) || strings.Trim(g, "0123456789") != "" {
			return v
		}
	}
	return strings.Join(groups, "")
}

// looksLikeMangledCard reports whether v is a number in scientific notation
// with 12 to 19 digits before the decimal point, such as 6.22848E+15: a
// card number that a spreadsheet has rounded.
func looksLikeMangledCard(v string) bool {
	v = strings.TrimSpace(v)
	i := strings.IndexAny(v, "eE")
	if i < 1 || i+1 >= len(v) {
		return false
	}
	mant, exp := v[:i], strings.TrimPrefix(v[i+1:], "+")
	e, err := strconv.Atoi(exp)
	if err != nil || e < cardnum.MinDigits-1 || e > cardnum.MaxDigits-1 {
		return false
	}
	if mant[0] < '1' || mant[0] > '9' {
		return false
	}
	if len(mant) > 1 {
		if mant[1] != '.' || len(mant) == 2 {
			return false
		}
		for _, c := range mant[2:] {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// hasLetter reports whether s holds a letter (any script).
func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// columnScore is how card-like a column's content is.
type columnScore struct {
	nonEmpty, like, luhn int
}

func (c columnScore) share() float64 {
	if c.nonEmpty == 0 {
		return 0
	}
	return float64(c.like) / float64(c.nonEmpty)
}

// better reports whether c is a better card column than o: more values that
// pass the Luhn check, then more card-like values, then a larger share.
func (c columnScore) better(o columnScore) bool {
	if c.luhn != o.luhn {
		return c.luhn > o.luhn
	}
	if c.like != o.like {
		return c.like > o.like
	}
	return c.share() > o.share()
}

// scoreColumns scores every column over the first contentSample non-empty
// cells of each.
func scoreColumns(recs []record, width int) []columnScore {
	scores := make([]columnScore, width)
	for _, r := range recs {
		for j, v := range r.fields {
			if j >= width || scores[j].nonEmpty >= contentSample || isBlankString(v) {
				continue
			}
			s := &scores[j]
			s.nonEmpty++
			if cellLooksLikeCard(v) {
				s.like++
				if d := cardnum.Normalize(v); cardnum.Validate(d, false) == nil && cardnum.Luhn(d) {
					s.luhn++
				}
			}
		}
	}
	return scores
}

// byContent returns the best column whose cells are at least contentShare
// card-like, or -1.
func byContent(recs []record, width int) (int, columnScore) {
	best, bestScore := -1, columnScore{}
	for j, s := range scoreColumns(recs, width) {
		if s.like == 0 || s.share() < contentShare {
			continue
		}
		if best < 0 || s.better(bestScore) {
			best, bestScore = j, s
		}
	}
	return best, bestScore
}

// byName finds the card column among header names: an exact name first,
// then a name containing "card" or "卡号" (the one with the most card-like
// content when several do). It returns -1 when none matches.
func byName(header []string, data []record) int {
	for j, h := range header {
		if cardNames[normalizeName(h)] {
			return j
		}
	}
	var candidates []int
	for j, h := range header {
		n := normalizeName(h)
		if !strings.Contains(n, "card") && !strings.Contains(n, "卡号") {
			continue
		}
		excluded := false
		for _, w := range notCardWords {
			if strings.Contains(n, w) {
				excluded = true
				break
			}
		}
		if !excluded {
			candidates = append(candidates, j)
		}
	}
	if len(candidates) <= 1 {
		if len(candidates) == 1 {
			return candidates[0]
		}
		return -1
	}
	scores := scoreColumns(data, len(header))
	best := candidates[0]
	for _, j := range candidates[1:] {
		if scores[j].better(scores[best]) {
			best = j
		}
	}
	return best
}

// matchColumn finds a header name given by the user (normalised the same
// way); -1 if none.
func matchColumn(header []string, name string) int {
	want := normalizeName(name)
	for j, h := range header {
		if cleanHeader(h) == strings.TrimSpace(name) {
			return j
		}
	}
	for j, h := range header {
		if normalizeName(h) == want {
			return j
		}
	}
	return -1
}

// maxWidth returns the largest number of fields among recs.
func maxWidth(recs []record) int {
	w := 0
	for _, r := range recs {
		w = max(w, len(r.fields))
	}
	return w
}

// cell returns fields[j], or "" when the row is too short.
func cell(fields []string, j int) string {
	if j >= 0 && j < len(fields) {
		return fields[j]
	}
	return ""
}

// synthHeader names the columns of a headerless file.
func synthHeader(width int) []string {
	if width <= 1 {
		return []string{"card"}
	}
	h := make([]string, width)
	for j := range h {
		h[j] = "column" + strconv.Itoa(j+1)
	}
	return h
}

// headerOf returns the cleaned header cells of the first record.
func headerOf(r record) []string {
	h := make([]string, len(r.fields))
	for j, v := range r.fields {
		h[j] = cleanHeader(v)
	}
	return h
}

// detectLayout decides, from the first non-blank records of the input,
// whether the first one is a header and which column holds card numbers.
// recs must not be empty. lines is set for TXT input (one field a line).
// column is Options.Column.
func detectLayout(path string, recs []record, lines bool, column string) (layout, error) {
	first := recs[0]
	column = strings.TrimSpace(column)
	if lines {
		return detectLines(path, first, column)
	}
	width := maxWidth(recs)
	rest := recs[1:]

	withHeader := func(col int, how string) layout {
		h := headerOf(first)
		for j := len(h); j <= col; j++ { // the card column lies past a short header
			h = append(h, "column"+strconv.Itoa(j+1))
		}
		l := layout{header: h, hasHeader: true, cardCol: col}
		l.notes = append(l.notes, fmt.Sprintf("card column: %q (column %d), %s", safeText(cell(h, col)), col+1, how))
		return l
	}
	headerless := func(col int, how string) layout {
		h := synthHeader(width)
		l := layout{header: h, cardCol: col}
		if len(h) == 1 {
			l.notes = append(l.notes, "no header row: the file is one column of card numbers")
		} else {
			l.notes = append(l.notes, fmt.Sprintf("no header row (the first row holds data): columns named column1..column%d", len(h)))
			l.notes = append(l.notes, fmt.Sprintf("card column: column %d, %s", col+1, how))
		}
		return l
	}

	if column != "" {
		if j := matchColumn(headerOf(first), column); j >= 0 {
			return withHeader(j, "as given by --column"), nil
		}
		k, err := strconv.Atoi(column)
		if err != nil {
			hint := "pass --column with one of these names or a 1-based column number"
			for _, v := range first.fields {
				if cellLooksLikeCard(v) {
					hint = "the file seems to have no header row: pass --column with a 1-based column number"
					break
				}
			}
			return layout{}, &InputError{Path: path, Problem: fmt.Sprintf("has no column named %q", column), Hint: hint, Columns: headerOf(first)}
		}
		if k < 1 || k > width {
			return layout{}, &InputError{Path: path,
				Problem: fmt.Sprintf("has no column %d (--column counts from 1 and the file has %d %s)", k, width, plural(width, "column", "columns")),
				Hint:    "pass --column with a number from 1 to " + strconv.Itoa(width) + " or a column name", Columns: headerOf(first)}
		}
		if cellLooksLikeCard(cell(first.fields, k-1)) {
			return headerless(k-1, "as given by --column"), nil
		}
		return withHeader(k-1, "as given by --column"), nil
	}

	if j := byName(headerOf(first), rest); j >= 0 {
		return withHeader(j, "found by its name"), nil
	}
	how := func(s columnScore) string {
		return fmt.Sprintf("found by its content (%d of the first %d values look like card numbers)", s.like, s.nonEmpty)
	}
	if j, s := byContent(rest, width); j >= 0 {
		if cellLooksLikeCard(cell(first.fields, j)) {
			_, s = byContent(recs, width)
			return headerless(j, how(s)), nil
		}
		return withHeader(j, how(s)), nil
	}
	if j, s := byContent(recs, width); j >= 0 {
		if cellLooksLikeCard(cell(first.fields, j)) {
			return headerless(j, how(s)), nil
		}
		return withHeader(j, how(s)), nil
	}
	if len(recs) == 1 {
		// A single row with nothing card-like: a header without data. The
		// caller reports it as such.
		return layout{header: headerOf(first), hasHeader: true, cardCol: 0}, nil
	}
	return layout{}, &InputError{Path: path,
		Problem: "has no recognisable card column: no header like \"card\" or \"卡号\" and no column of card-like numbers",
		Hint:    "pass --column with the card column's name or 1-based number", Columns: headerOf(first)}
}

// detectLines handles TXT input: one card a line, an optional header line.
func detectLines(path string, first record, column string) (layout, error) {
	v := cell(first.fields, 0)
	l := layout{cardCol: 0}
	if !cardnum.LooksLikeCard(v) && hasLetter(v) {
		l.header, l.hasHeader = []string{cleanHeader(v)}, true
		l.notes = append(l.notes, fmt.Sprintf("plain text, one card number a line; first line %q taken as the header", safeText(cleanHeader(v))))
	} else {
		l.header = []string{"card"}
		l.notes = append(l.notes, "plain text, one card number a line, no header line")
	}
	if column != "" && column != "1" && matchColumn(l.header, column) < 0 {
		return layout{}, &InputError{Path: path,
			Problem: fmt.Sprintf("is plain text with one card number a line, so it has no column %q", column),
			Hint:    "leave --column out (or pass --column 1)", Columns: l.header}
	}
	return l, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

package sinks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"cardbatch/billing"
)

// WriteSummaryJSON writes sum to path as indented JSON with the keys of the
// command-line contract, atomically: a reader sees the previous file or the
// complete new one, never a part. The file gets mode (0600 when 0). Missing
// maps are written as {} and missing attempts as [], never null.
func WriteSummaryJSON(path string, sum *billing.Summary, mode os.FileMode) error {
	if sum == nil {
		return errors.New("write summary: no summary given")
	}
	if err := checkOutputPath(path); err != nil {
		return err
	}
	data, err := json.MarshalIndent(normalized(sum), "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	data = append(data, '\n')
	f, err := createTemp(path, "", mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = discardTemp(f)
		return fmt.Errorf("write %q: %w", f.Name(), err)
	}
	return commitTemp(f, path)
}

// normalized returns a shallow copy of sum whose always-present maps and
// slices are non-nil, so that JSON consumers never see null for them. sum
// itself is not modified.
func normalized(sum *billing.Summary) *billing.Summary {
	c := *sum
	if c.ByResult == nil {
		c.ByResult = map[string]int64{}
	}
	if c.ByStatus == nil {
		c.ByStatus = map[string]int{}
	}
	c.Attempts = make([]billing.Attempt, len(sum.Attempts))
	copy(c.Attempts, sum.Attempts)
	for i := range c.Attempts {
		if c.Attempts[i].ByResult == nil {
			c.Attempts[i].ByResult = map[string]int64{}
		}
	}
	return &c
}

// RenderTable writes sum as an aligned, human-readable table with the same
// figures as the JSON summary, in lang ("en", "" or "zh"): the call counts,
// the row counts, the cost when a price is set, the answers by result code
// with each code's meaning and billing class, the other breakdowns, and one
// line per attempt. In English the figures are labelled with the JSON
// summary's keys (so that a figure can be found in summary.json by its
// name); in Chinese with the Summary sheet's words. The table is written
// with a single Write call.
func RenderTable(w io.Writer, sum *billing.Summary, lang string) error {
	if sum == nil {
		return errors.New("render summary: no summary given")
	}
	lang, err := langOf(lang)
	if err != nil {
		return err
	}
	t := newTableWords(lang)
	kv := newKVTable()
	tableFigures(kv, sum, t)
	tableBreakdowns(kv, sum, t)
	var b bytes.Buffer
	b.WriteString(t.label("table_title") + "\n")
	kv.render(&b)
	tableAttempts(&b, sum.Attempts, t)
	_, err = w.Write(b.Bytes())
	return err
}

// tableWords are the printed table's labels in one language.
type tableWords struct {
	zh    bool
	words func(string) string // the Summary sheet's words in the table's language
}

// tableEn are the English table's labels that are not JSON keys.
var tableEn = map[string]string{
	"table_title": "Billing summary", "calls": "Calls", "rows_h": "Rows", "cost": "Cost",
	"price_note": "per charged call", "cost_note": "charged_calls × price", "none": "(none)",
	"top_of":      "%s (top %d of %d)",
	"a_api_calls": "api_calls", "a_charged": "charged_calls", "a_free": "free_calls",
	"a_in_doubt": "in_doubt", "a_by_result": "by_result",
}

func newTableWords(lang string) tableWords {
	return tableWords{zh: lang == "zh", words: words(lang)}
}

// label names a figure, a heading or a column: in English its JSON key
// (or tableEn's text), in Chinese the Summary sheet's word.
func (t tableWords) label(key string) string {
	if t.zh {
		return t.words(key)
	}
	if w, ok := tableEn[key]; ok {
		return w
	}
	return key
}

// meaning says what a result code means and how it is billed:
// "query successful (charged)".
func (t tableWords) meaning(code string) string {
	m := "m?"
	switch code {
	case billing.ResultOK, billing.ResultNotFound, billing.ResultBusy, billing.ResultNotExist:
		m = "m" + code
	}
	if t.zh {
		return t.words(m) + "（" + t.words(string(billing.ClassOf(code))) + "）"
	}
	return t.words(m) + " (" + t.words(string(billing.ClassOf(code))) + ")"
}

// value shows a value from the summary: an attempt's outcome or a card
// type, in Chinese when the table is; as the JSON summary spells it in
// English.
func (t tableWords) value(v string) string {
	if !t.zh {
		return v
	}
	for typ := 1; typ <= 4; typ++ {
		if v == billing.AccountTypeName(typ) {
			return accountTypeName(typ, "zh")
		}
	}
	return t.words(v)
}

// tableFigures adds the call and row counts and the cost.
func tableFigures(kv *kvTable, sum *billing.Summary, t tableWords) {
	kv.heading(t.label("calls"))
	for _, it := range callItems(sum) {
		kv.line(t.label(it.key), formatInt(it.value), "")
	}
	kv.heading(t.label("rows_h"))
	for _, it := range rowItems(sum) {
		kv.line(t.label(it.key), formatInt(it.value), "")
	}
	if sum.Price > 0 {
		kv.heading(t.label("cost"))
		kv.line(t.label("price"), formatPrice(sum.Price), t.label("price_note"))
		kv.line(t.label("estimated_cost"), formatMoney(sum.EstimatedCost), t.label("cost_note"))
	}
}

// tableBreakdowns adds the answers by result code, by HTTP status and by
// row status, and the top issuing banks and card types.
func tableBreakdowns(kv *kvTable, sum *billing.Summary, t tableWords) {
	kv.heading(t.label("by_result"))
	if len(sum.ByResult) == 0 {
		kv.line(t.label("none"), "", "")
	}
	for _, code := range resultCodes(sum.ByResult) {
		kv.line(code, formatInt(sum.ByResult[code]), t.meaning(code))
	}
	if len(sum.ByHTTPStatus) > 0 {
		kv.heading(t.label("by_http_status"))
		for _, st := range numericKeys(sum.ByHTTPStatus) {
			kv.line(st, formatInt(sum.ByHTTPStatus[st]), "")
		}
	}
	if len(sum.ByStatus) > 0 {
		kv.heading(t.label("by_status"))
		for _, st := range statusKeys(sum.ByStatus) {
			kv.line(st, formatInt(int64(sum.ByStatus[st])), "")
		}
	}
	const topN = 10
	for _, g := range []struct {
		key  string
		m    map[string]int
		show func(string) string
	}{{"by_bank", sum.ByBank, nil}, {"by_card_type", sum.ByCardType, t.value}} {
		if len(g.m) == 0 {
			continue
		}
		keys := byCountDesc(g.m)
		title := t.label(g.key)
		if len(keys) > topN {
			title = fmt.Sprintf(t.label("top_of"), title, topN, len(keys))
			keys = keys[:topN]
		}
		kv.heading(title)
		for _, k := range keys {
			label := k
			if g.show != nil {
				label = g.show(k)
			}
			kv.line(label, formatInt(int64(g.m[k])), "")
		}
	}
}

// tableAttempts writes one line per attempt.
func tableAttempts(b *bytes.Buffer, attempts []billing.Attempt, t tableWords) {
	b.WriteString("  " + t.label("attempts") + "\n")
	if len(attempts) == 0 {
		b.WriteString("    " + t.label("none") + "\n")
		return
	}
	header := make([]string, len(attemptColumns))
	for i, k := range attemptColumns {
		header[i] = t.label(k)
	}
	rows := make([][]string, 0, len(attempts))
	for _, a := range attempts {
		rows = append(rows, attemptCells(a, t))
	}
	renderGrid(b, "    ", header, rows, attemptNumeric)
}

// renderGrid writes a table with a header line, each column as wide as its
// widest cell; numeric columns are right-aligned, the others left-aligned.
func renderGrid(b *bytes.Buffer, indent string, header []string, rows [][]string, numeric []bool) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = displayWidth(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	line := func(cells []string) {
		var l strings.Builder
		l.WriteString(indent)
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-displayWidth(c))
			if i > 0 {
				l.WriteString("  ")
			}
			if numeric[i] {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// kvTable lays out key/value/note lines under headings, the keys left-aligned
// and the values right-aligned in one column across all headings.
type kvTable struct {
	rows []kvRow
}

type kvRow struct {
	heading          string
	key, value, note string
}

func newKVTable() *kvTable { return &kvTable{} }

func (t *kvTable) heading(h string) { t.rows = append(t.rows, kvRow{heading: h}) }

func (t *kvTable) line(key, value, note string) {
	t.rows = append(t.rows, kvRow{key: key, value: value, note: note})
}

func (t *kvTable) render(b *bytes.Buffer) {
	kw, vw := 0, 0
	for _, r := range t.rows {
		if r.heading != "" {
			continue
		}
		kw = max(kw, displayWidth(r.key))
		vw = max(vw, len(r.value))
	}
	for _, r := range t.rows {
		if r.heading != "" {
			b.WriteString("  " + r.heading + "\n")
			continue
		}
		b.WriteString("    ")
		b.WriteString(r.key)
		b.WriteString(strings.Repeat(" ", kw-displayWidth(r.key)+2+vw-len(r.value)))
		b.WriteString(r.value)
		if r.note != "" {
			b.WriteString("  " + r.note)
		}
		b.WriteString("\n")
	}
}

// item is one labelled figure of the summary, labelled with its JSON key.
type item struct {
	key   string
	value int64
	note  string
}

// callItems are the call counts, in the order of the "Calls" section.
func callItems(s *billing.Summary) []item {
	return []item{
		{"rows", int64(s.Rows), "data rows read"},
		{"api_calls", s.APICalls, "HTTP requests sent, retries included"},
		{"charged_calls", s.ChargedCalls, "answers with a charged (or undocumented) result code"},
		{"free_calls", s.FreeCalls, "answers with a free result code, plus HTTP errors"},
		{"in_doubt", s.InDoubt, "calls that may have been charged but whose answer was lost"},
		{"unknown_result_calls", s.UnknownCalls, "answers with an undocumented result code (counted as charged)"},
	}
}

// rowItems are the row counts, in the order of the "Rows" section.
func rowItems(s *billing.Summary) []item {
	return []item{
		{"done", int64(s.Done), "rows with a final answer"},
		{"invalid", int64(s.Invalid), "rows not sent: no valid card number"},
		{"duplicates", int64(s.Duplicates), "rows answered from an earlier row of the run"},
		{"cache_hits", int64(s.CacheHits), "rows answered from the answer cache"},
		{"failed", int64(s.Failed), "rows with no final answer (run again to retry them)"},
		{"skipped", int64(s.Skipped), "rows not sent because the run stopped early"},
	}
}

// resultCodes orders result codes: the documented ones first (0, -1, -2,
// -3), then the others numerically, then any non-numeric ones.
func resultCodes(m map[string]int64) []string {
	documented := []string{billing.ResultOK, billing.ResultNotFound, billing.ResultBusy, billing.ResultNotExist}
	var out, rest []string
	for _, c := range documented {
		if _, ok := m[c]; ok {
			out = append(out, c)
		}
	}
	for c := range m {
		if !slices.Contains(documented, c) {
			rest = append(rest, c)
		}
	}
	sortNumeric(rest)
	return append(out, rest...)
}

// numericKeys returns m's keys in numeric order (non-numeric keys last, in
// string order).
func numericKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortNumeric(keys)
	return keys
}

func sortNumeric(keys []string) {
	slices.SortFunc(keys, func(a, b string) int {
		ai, aerr := strconv.ParseInt(a, 10, 64)
		bi, berr := strconv.ParseInt(b, 10, 64)
		switch {
		case aerr == nil && berr == nil:
			return cmpInt(ai, bi)
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// statusOrder is the order of the output's status values in cli.md.
var statusOrder = []string{"ok", "not_found", "card_not_exist", "busy", "invalid", "duplicate", "cached", "failed", "skipped"}

// statusKeys orders row statuses as cli.md lists them, unknown ones last.
func statusKeys(m map[string]int) []string {
	var out, rest []string
	for _, s := range statusOrder {
		if _, ok := m[s]; ok {
			out = append(out, s)
		}
	}
	for s := range m {
		if !slices.Contains(statusOrder, s) {
			rest = append(rest, s)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// byCountDesc returns m's keys by descending count, ties by name.
func byCountDesc(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return cmpInt(int64(m[b]), int64(m[a]))
		}
		return strings.Compare(a, b)
	})
	return keys
}

// attemptColumns are the label keys of the attempts table's columns.
var attemptColumns = []string{"attempt", "started_at", "finished_at", "a_api_calls", "a_charged", "a_free", "a_in_doubt", "outcome", "a_by_result"}

// attemptNumeric says which attemptColumns hold counts.
var attemptNumeric = []bool{true, false, false, true, true, true, true, false, false}

// attemptCells are one attempt's cells for the table, in attemptColumns order.
func attemptCells(a billing.Attempt, t tableWords) []string {
	fin, outcome := "-", t.value(a.Outcome)
	if a.FinishedAt != nil {
		fin = formatTime(*a.FinishedAt)
	}
	if a.Outcome == "" {
		outcome = "-"
	}
	return []string{
		strconv.Itoa(a.Number),
		formatTime(a.StartedAt),
		fin,
		formatInt(a.APICalls),
		formatInt(a.ChargedCalls),
		formatInt(a.FreeCalls),
		formatInt(a.InDoubt),
		outcome,
		compactResults(a.ByResult),
	}
}

// compactResults renders a by_result map on one line: "0=650 -1=50 -2=200".
func compactResults(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, c := range resultCodes(m) {
		parts = append(parts, c+"="+strconv.FormatInt(m[c], 10))
	}
	return strings.Join(parts, " ")
}

// formatTime shows a time to the second with its UTC offset.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05 -07:00")
}

// formatInt writes n with thousands separators: 1234567 -> "1,234,567".
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatMoney writes an amount with two decimals and thousands separators.
func formatMoney(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return s
	}
	out := formatInt(n)
	if n == 0 && strings.HasPrefix(intPart, "-") {
		out = "-0"
	}
	return out + "." + frac
}

// formatPrice writes a unit price with at least two decimals and as many as
// it needs (0.05, 0.005).
func formatPrice(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i < 0 {
		s += ".00"
	} else if len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return s
}

// displayWidth approximates the terminal width of s: East Asian wide
// characters count two columns.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		if isWide(r) {
			w += 2
		} else {
			w++
		}
	}
	return w
}

func isWide(r rune) bool {
	return (r >= 0x1100 && r <= 0x115F) || (r >= 0x2E80 && r <= 0xA4CF) ||
		(r >= 0xAC00 && r <= 0xD7A3) || (r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0xFE30 && r <= 0xFE4F) || (r >= 0xFF00 && r <= 0xFF60) ||
		(r >= 0xFFE0 && r <= 0xFFE6) || (r >= 0x20000 && r <= 0x3FFFD)
}

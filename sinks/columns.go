package sinks

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
)

// addedKeys are the English names of the added columns, in output order.
var addedKeys = []string{"result", "description", "account_bank", "account_type",
	"account_type_name", "billing", "status", "error", "answered_at"}

// addedZh are their Chinese names (--lang zh), in the same order.
var addedZh = []string{"结果码", "结果说明", "开户行", "卡类型代码", "卡类型", "计费", "状态", "错误原因", "查询时间"}

// Indexes into addedKeys of the columns that are not text.
const (
	colAccountType = 3
	colAnsweredAt  = 8
)

// langOf checks a language code: "" and "en" are English, "zh" Chinese.
func langOf(lang string) (string, error) {
	switch strings.ToLower(lang) {
	case "", "en":
		return "en", nil
	case "zh":
		return "zh", nil
	}
	return "", fmt.Errorf("language %q is not supported: use en or zh", lang)
}

// AddedColumns returns the names of the columns cardbatch adds after the
// input's own, in lang ("en", "" or "zh"; anything else is English), each
// with prefix before it.
func AddedColumns(lang, prefix string) []string {
	names := addedKeys
	if l, _ := langOf(lang); l == "zh" {
		names = addedZh
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// CheckHeader refuses an input header that already has a column named like
// one of the added columns (compared without case and surrounding spaces),
// so that no output has two columns of one name. The error names the column
// and says to use --prefix.
func CheckHeader(header []string, lang, prefix string) error {
	added := AddedColumns(lang, prefix)
	for i, h := range header {
		for _, a := range added {
			if strings.EqualFold(strings.TrimSpace(h), a) {
				return fmt.Errorf("the input already has a column named %q (column %d), which cardbatch adds to the output: "+
					"use --prefix to name the added columns differently (for example --prefix cb_)", h, i+1)
			}
		}
	}
	return nil
}

// accountTypeName is the output's account_type_name in lang: "" for 0 and
// unknown values.
func accountTypeName(t int, lang string) string {
	if lang != "zh" {
		return billing.AccountTypeName(t)
	}
	switch t {
	case 1:
		return "借记卡"
	case 2:
		return "贷记卡"
	case 3:
		return "预付费卡"
	case 4:
		return "准贷记卡"
	}
	return ""
}

// answerTexts renders an answer as the added cells' text, in addedKeys
// order: account_type as its digits ("" for 0), answered_at in RFC 3339
// ("" when zero).
func answerTexts(a Answer, lang string) []string {
	typ, at := "", ""
	if a.AccountType != 0 {
		typ = strconv.Itoa(a.AccountType)
	}
	if !a.AnsweredAt.IsZero() {
		at = a.AnsweredAt.Format(time.RFC3339)
	}
	return []string{a.Result, a.Description, a.AccountBank, typ,
		accountTypeName(a.AccountType, lang), a.Billing, a.Status, a.Error, at}
}

// answerValues renders an answer as typed XLSX values, in addedKeys order:
// text cut to the XLSX cell limit, account_type an int, answered_at a
// time.Time, nil for an empty cell.
func answerValues(a Answer, lang string) []any {
	texts := answerTexts(a, lang)
	vals := make([]any, len(texts))
	for i, t := range texts {
		switch {
		case i == colAccountType && a.AccountType != 0:
			vals[i] = a.AccountType
		case i == colAnsweredAt && !a.AnsweredAt.IsZero():
			vals[i] = a.AnsweredAt
		case t != "" && i != colAccountType && i != colAnsweredAt:
			vals[i] = cutCell(t)
		}
	}
	return vals
}

// cutCell cuts text from the API to the XLSX cell limit, ending it with
// "…" when cut.
func cutCell(s string) string {
	if !tooLong(s) {
		return s
	}
	u := utf16.Encode([]rune(s))[:excelize.TotalCellChars-1]
	if r := u[len(u)-1]; r >= 0xD800 && r < 0xDC00 { // never split a surrogate pair
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u)) + "…"
}

// neutralise returns s with a leading ' when a spreadsheet program would
// read it as a formula: it starts with =, +, -, @, a tab or a carriage
// return and is not a plain decimal number (so a result code "-1" stays as
// it is). This is OWASP's rule against CSV injection.
func neutralise(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if isPlainNumber(s) {
		return s
	}
	return "'" + s
}

// isPlainNumber reports whether s is an optional sign, digits and at most
// one decimal point, with at least one digit.
func isPlainNumber(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	digits, dots := 0, 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

package sinks

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
	"cardbatch/sources"
)

// sampleSummary is a resumed run: an interrupted first attempt and a second
// one still open, an undocumented result code, HTTP errors and a price.
func sampleSummary() *billing.Summary {
	start1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	fin1 := start1.Add(90 * time.Minute)
	start2 := time.Date(2026, 3, 1, 11, 15, 30, 0, time.UTC)
	return &billing.Summary{
		Rows:         1000,
		APICalls:     12345,
		ChargedCalls: 9876,
		FreeCalls:    2468,
		ByResult:     map[string]int64{"0": 9000, "-1": 873, "-2": 2400, "-3": 68, "7": 3},
		Invalid:      20,
		Duplicates:   50,
		Failed:       2,
		InDoubt:      1,
		UnknownCalls: 3,
		ByHTTPStatus: map[string]int64{"429": 12, "503": 4},
		CacheHits:    5,
		Skipped:      4,
		Done:         919,
		ByStatus:     map[string]int{"ok": 800, "not_found": 70, "card_not_exist": 6, "invalid": 20, "duplicate": 50, "failed": 2, "skipped": 4},
		Attempts: []billing.Attempt{
			{Number: 1, StartedAt: start1, FinishedAt: &fin1, APICalls: 10000, ChargedCalls: 8000, FreeCalls: 2000,
				ByResult: map[string]int64{"0": 7300, "-1": 700, "-2": 2000}, Outcome: "interrupted"},
			{Number: 2, StartedAt: start2, APICalls: 2345, ChargedCalls: 1876, FreeCalls: 468, InDoubt: 1,
				ByResult: map[string]int64{"0": 1700, "-1": 173, "-2": 400, "-3": 68, "7": 3}},
		},
		Price:         0.05,
		EstimatedCost: 493.8,
		ByBank:        map[string]int{"中国工商银行": 300, "China Merchants Bank": 200, "中国银行": 200},
		ByCardType:    map[string]int{"debit": 700, "credit": 173},
	}
}

// contractKeys are the keys cli.md promises, plus the others Summary has.
var contractKeys = []string{
	"rows", "api_calls", "charged_calls", "free_calls", "by_result", "invalid", "duplicates", "failed", "in_doubt",
	"unknown_result_calls", "by_http_status", "cache_hits", "skipped", "done", "by_status", "attempts",
	"price", "estimated_cost", "by_bank", "by_card_type",
}

func TestWriteSummaryJSON(t *testing.T) {
	tests := []struct {
		name     string
		mode     os.FileMode
		wantMode os.FileMode
		existing bool
	}{
		{name: "default mode", wantMode: 0o600},
		{name: "given mode", mode: 0o644, wantMode: 0o644},
		{name: "replaces an existing file", existing: true, wantMode: 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.summary.json")
			if tc.existing {
				if err := os.WriteFile(path, []byte(`{"rows": 1}`), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			want := sampleSummary()
			if err := WriteSummaryJSON(path, want, tc.mode); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got billing.Summary
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, *want)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range contractKeys {
				if _, ok := raw[k]; !ok {
					t.Errorf("key %q missing from %s", k, data)
				}
			}
			if !bytes.Contains(data, []byte("\n  \"rows\": 1000,\n")) || !bytes.HasSuffix(data, []byte("}\n")) {
				t.Errorf("not indented JSON with plain numbers:\n%s", data)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != tc.wantMode {
				t.Errorf("mode = %#o, want %#o", fi.Mode().Perm(), tc.wantMode)
			}
			if names := listDir(t, dir); !slices.Equal(names, []string{"out.summary.json"}) {
				t.Errorf("directory holds %q, want only the summary", names)
			}
		})
	}

	t.Run("nil maps are written as {} and []", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.json")
		sum := &billing.Summary{Rows: 3, Attempts: []billing.Attempt{{Number: 1}}}
		if err := WriteSummaryJSON(path, sum, 0); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		var raw map[string]any
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"by_result", "by_status"} {
			if m, ok := raw[k].(map[string]any); !ok || len(m) != 0 {
				t.Errorf("%s = %#v, want {}", k, raw[k])
			}
		}
		att := raw["attempts"].([]any)[0].(map[string]any)
		if m, ok := att["by_result"].(map[string]any); !ok || len(m) != 0 {
			t.Errorf("attempts[0].by_result = %#v, want {}", att["by_result"])
		}
		for _, k := range []string{"price", "estimated_cost", "by_bank", "by_card_type", "by_http_status"} {
			if _, ok := raw[k]; ok {
				t.Errorf("empty %s written; want it omitted", k)
			}
		}
		if sum.ByResult != nil || sum.Attempts[0].ByResult != nil {
			t.Error("WriteSummaryJSON modified the caller's summary")
		}
	})

	t.Run("empty attempts are []", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.json")
		if err := WriteSummaryJSON(path, &billing.Summary{}, 0); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if !bytes.Contains(data, []byte(`"attempts": []`)) {
			t.Errorf("attempts not written as []:\n%s", data)
		}
	})

	t.Run("errors", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteSummaryJSON(filepath.Join(dir, "missing", "s.json"), sampleSummary(), 0); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing directory: err = %v, want fs.ErrNotExist", err)
		}
		if err := WriteSummaryJSON(filepath.Join(dir, "s.json"), nil, 0); err == nil {
			t.Error("nil summary: no error")
		}
		if names := listDir(t, dir); len(names) != 0 {
			t.Errorf("failed writes left %q", names)
		}
	})
}

func TestRenderTable(t *testing.T) {
	var b bytes.Buffer
	if err := RenderTable(&b, sampleSummary(), "en"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)

	// Each figure on its own line: the JSON key, then the value.
	lines := []struct{ key, value string }{
		{"rows", "1,000"}, {"api_calls", "12,345"}, {"charged_calls", "9,876"}, {"free_calls", "2,468"},
		{"in_doubt", "1"}, {"unknown_result_calls", "3"},
		{"done", "919"}, {"invalid", "20"}, {"duplicates", "50"}, {"cache_hits", "5"}, {"failed", "2"}, {"skipped", "4"},
		{"price", "0.05"}, {"estimated_cost", "493.80"},
		{"0", "9,000"}, {"-1", "873"}, {"-2", "2,400"}, {"-3", "68"}, {"7", "3"},
		{"429", "12"}, {"503", "4"},
		{"ok", "800"}, {"card_not_exist", "6"},
		{"中国工商银行", "300"}, {"China Merchants Bank", "200"}, {"debit", "700"},
	}
	for _, l := range lines {
		re := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(l.key) + `\s+` + regexp.QuoteMeta(l.value) + `(\s|$)`)
		if !re.MatchString(out) {
			t.Errorf("no line %q … %q", l.key, l.value)
		}
	}
	for _, k := range contractKeys {
		if !strings.Contains(out, k) {
			t.Errorf("key %q missing", k)
		}
	}
	for _, want := range []struct{ code, count, meaning string }{
		{"0", "9,000", "query successful (charged)"},
		{"-1", "873", "no information found (charged)"},
		{"-2", "2,400", "verification center busy (free)"},
		{"-3", "68", "card does not exist (free)"},
		{"7", "3", "undocumented result code (unknown, counted as charged)"},
	} {
		re := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(want.code) + `\s+` + regexp.QuoteMeta(want.count) + `\s+` + regexp.QuoteMeta(want.meaning) + `$`)
		if !re.MatchString(out) {
			t.Errorf("by_result line %s with meaning %q missing", want.code, want.meaning)
		}
	}
	// Attempts: one line each, with its counts and outcome.
	att1 := regexp.MustCompile(`(?m)^\s+1\s+2026-03-01 09:00:00 \+00:00\s+2026-03-01 10:30:00 \+00:00\s+10,000\s+8,000\s+2,000\s+0\s+interrupted\s+0=7300 -1=700 -2=2000$`)
	att2 := regexp.MustCompile(`(?m)^\s+2\s+2026-03-01 11:15:30 \+00:00\s+-\s+2,345\s+1,876\s+468\s+1\s+-\s+0=1700 -1=173 -2=400 -3=68 7=3$`)
	if !att1.MatchString(out) || !att2.MatchString(out) {
		t.Errorf("attempt lines missing or malformed")
	}

	// Values line up in one column.
	col := -1
	for _, l := range []string{"rows", "charged_calls", "unknown_result_calls", "skipped"} {
		m := regexp.MustCompile(`(?m)^\s+` + l + `\s+\S+$`).FindString(out)
		if col == -1 {
			col = len(m)
		} else if len(m) != col {
			t.Errorf("line %q ends at column %d, want %d", m, len(m), col)
		}
	}

	t.Run("nil summary", func(t *testing.T) {
		if err := RenderTable(&bytes.Buffer{}, nil, "en"); err == nil {
			t.Error("no error")
		}
	})
	t.Run("empty summary", func(t *testing.T) {
		var b bytes.Buffer
		if err := RenderTable(&b, &billing.Summary{}, ""); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "price") || !strings.Contains(b.String(), "charged_calls") {
			t.Errorf("empty summary:\n%s", b.String())
		}
	})
}

// TestRenderTableChinese: with --lang zh every label, heading, meaning,
// outcome and card type of the printed table is in Chinese, the figures are
// the same, and the values still line up in one column (a Chinese character
// is two columns wide in a terminal).
func TestRenderTableChinese(t *testing.T) {
	var b bytes.Buffer
	if err := RenderTable(&b, sampleSummary(), "zh"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	if !strings.HasPrefix(out, "计费汇总\n") {
		t.Errorf("title: %q", strings.SplitN(out, "\n", 2)[0])
	}
	lines := []struct{ key, value, note string }{
		{"读取行数", "1,000", ""}, {"发送调用数", "12,345", ""}, {"计费调用数", "9,876", ""}, {"免费调用数", "2,468", ""},
		{"结果不明的调用", "1", ""}, {"未列明结果码的应答", "3", ""},
		{"已有结果的行", "919", ""}, {"无效卡号", "20", ""}, {"重复卡号", "50", ""}, {"来自缓存", "5", ""},
		{"无结果的行", "2", ""}, {"未发送的行（任务中止）", "4", ""},
		{"单次计费价格", "0.05", "每次计费调用"}, {"预估费用", "493.80", "计费调用数 × 单价；不含结果不明的调用"},
		{"0", "9,000", "查询成功（计费）"}, {"-1", "873", "无信息（计费）"}, {"-2", "2,400", "验证中心繁忙（免费）"},
		{"-3", "68", "卡号不存在（免费）"}, {"7", "3", "未列明的结果码（未知，按计费统计）"},
		{"中国工商银行", "300", ""}, {"借记卡", "700", ""}, {"贷记卡", "173", ""}, {"ok", "800", ""},
	}
	for _, l := range lines {
		re := regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(l.key) + ` +` + regexp.QuoteMeta(l.value) + `(  ` + regexp.QuoteMeta(l.note) + `)?$`)
		if m := re.FindStringSubmatch(out); m == nil || (l.note != "" && m[1] == "") {
			t.Errorf("no line %q … %q %q", l.key, l.value, l.note)
		}
	}
	for _, h := range []string{"调用", "行", "费用", "按结果码统计", "按 HTTP 状态统计", "按行状态统计", "发卡行排名", "按卡类型统计", "运行记录"} {
		if !strings.Contains(out, "\n  "+h+"\n") {
			t.Errorf("heading %q missing", h)
		}
	}
	header := regexp.MustCompile(`(?m)^    次序 +开始 +结束 +调用 +计费 +免费 +不明 +结果 +按结果码$`)
	att1 := regexp.MustCompile(`(?m)^ +1  2026-03-01 09:00:00 \+00:00  2026-03-01 10:30:00 \+00:00 +10,000 +8,000 +2,000 +0  被中断 +0=7300 -1=700 -2=2000$`)
	if !header.MatchString(out) || !att1.MatchString(out) {
		t.Errorf("attempts table header or line malformed")
	}
	for _, en := range []string{"charged_calls", "query successful", "debit", "interrupted", "Billing summary"} {
		if strings.Contains(out, en) {
			t.Errorf("English %q left in the Chinese table", en)
		}
	}
	// Values line up: the display width up to the end of each figure is
	// the same (Chinese characters count two columns).
	col := -1
	for _, k := range []string{"读取行数", "未列明结果码的应答", "未发送的行（任务中止）", "无效卡号"} {
		m := regexp.MustCompile(`(?m)^    ` + k + ` +\S+$`).FindString(out)
		if w := displayWidth(m); col == -1 {
			col = w
		} else if w != col {
			t.Errorf("line %q ends at column %d, want %d", m, w, col)
		}
	}
	if err := RenderTable(&bytes.Buffer{}, sampleSummary(), "fr"); err == nil {
		t.Error("language fr accepted")
	}
}

func TestSummarySheet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.xlsx")
	s, err := Create(Options{Path: path, Header: []string{"card"}, InputName: "客户名单.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(sources.Row{Line: 2, Fields: []string{"6227009328792181234"}, Card: "6227009328792181234"}, Answer{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(sampleSummary()); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, []string{"Results", "Summary"}) {
		t.Fatalf("sheets = %q, want data then Summary", got)
	}
	rows, err := f.GetRows("Summary")
	if err != nil {
		t.Fatal(err)
	}
	// find returns the 1-based row whose column A is label, searching after
	// the section heading (or from the top when section is "").
	find := func(section, label string) int {
		t.Helper()
		from := 0
		if section != "" {
			from = slices.IndexFunc(rows, func(r []string) bool { return len(r) > 0 && r[0] == section })
			if from < 0 {
				t.Fatalf("section %q not found", section)
			}
		}
		for i := from; i < len(rows); i++ {
			if len(rows[i]) > 0 && rows[i][0] == label {
				return i + 1
			}
		}
		t.Fatalf("no row %q in section %q", label, section)
		return 0
	}
	cell := func(col, row int) string {
		t.Helper()
		v, err := f.GetCellValue("Summary", cellName(col, row))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	kv := []struct{ section, key, value string }{
		{"Run", "Input file", "客户名单.xlsx"}, {"Run", "Started", "2026-03-01 09:00:00 +00:00"},
		{"Run", "Finished", "not finished"}, {"Run", "Attempts", "2"},
		{"Calls", "Rows read", "1,000"}, {"Calls", "Calls sent", "12,345"}, {"Calls", "Charged calls", "9,876"},
		{"Calls", "Free calls", "2,468"}, {"Calls", "Calls in doubt", "1"}, {"Calls", "Undocumented answers", "3"},
		{"Rows", "Rows answered", "919"}, {"Rows", "Invalid card numbers", "20"}, {"Rows", "Repeated card numbers", "50"},
		{"Rows", "Answered from the cache", "5"}, {"Rows", "Rows without an answer", "2"}, {"Rows", "Rows not sent (run stopped)", "4"},
		{"Cost", "Price per charged call", "0.05"}, {"Cost", "Estimated cost", "493.80"},
		{"Answers by HTTP status", "429", "12"}, {"Rows by status", "ok", "800"},
		{"Top issuing banks", "中国工商银行", "300"}, {"Top issuing banks", "China Merchants Bank", "200"},
		{"Rows by card type", "debit", "700"},
	}
	for _, c := range kv {
		if got := cell(2, find(c.section, c.key)); got != c.value {
			t.Errorf("%s/%s = %q, want %q", c.section, c.key, got, c.value)
		}
	}
	r := find("Calls", "Charged calls")
	if raw, _ := f.GetCellValue("Summary", cellName(2, r), excelize.Options{RawCellValue: true}); raw != "9876" {
		t.Errorf("charged calls raw value = %q, want the number 9876", raw)
	}
	byResult := []struct{ code, meaning, count, class string }{
		{"0", "query successful", "9,000", "charged"},
		{"-1", "no information found", "873", "charged"},
		{"-2", "verification center busy", "2,400", "free"},
		{"-3", "card does not exist", "68", "free"},
		{"7", "undocumented result code", "3", "unknown, counted as charged"},
	}
	for _, br := range byResult {
		r := find("Answers by result code", br.code)
		got := []string{cell(2, r), cell(3, r), cell(4, r)}
		if want := []string{br.meaning, br.count, br.class}; !slices.Equal(got, want) {
			t.Errorf("by result %s = %q, want %q", br.code, got, want)
		}
	}
	hr := find("Attempts", "Attempt")
	wantAttempts := [][]string{
		{"1", "2026-03-01 09:00:00 +00:00", "2026-03-01 10:30:00 +00:00", "10,000", "8,000", "2,000", "0", "interrupted", "0=7300 -1=700 -2=2000"},
		{"2", "2026-03-01 11:15:30 +00:00", "not finished", "2,345", "1,876", "468", "1", "running", "0=1700 -1=173 -2=400 -3=68 7=3"},
	}
	for i, want := range wantAttempts {
		if got := rows[hr+i]; !slices.Equal(got, want) {
			t.Errorf("attempt row %d = %q, want %q", i+1, got, want)
		}
	}
	b1, b2, b3 := find("Top issuing banks", "中国工商银行"), find("Top issuing banks", "China Merchants Bank"), find("Top issuing banks", "中国银行")
	if !(b1 < b2 && b2 < b3) {
		t.Errorf("bank rows %d, %d, %d: want by descending count, then name", b1, b2, b3)
	}
	charts := chartParts(t, path)
	if len(charts) != 2 {
		t.Fatalf("chart parts = %q, want 2 (answers by result code, top issuing banks)", charts)
	}
}

// chartParts lists the chart parts of the workbook at path.
func chartParts(t *testing.T, path string) []string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []string
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "xl/charts/chart") {
			out = append(out, f.Name)
		}
	}
	return out
}

func TestSummarySheetChinese(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.xlsx")
	s, err := Create(Options{Path: path, Header: []string{"卡号"}, Lang: "zh"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sampleSummary()
	fin := sum.Attempts[1].StartedAt.Add(time.Hour)
	sum.Attempts[1].FinishedAt, sum.Attempts[1].Outcome = &fin, "finished"
	if err := s.Commit(sum); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !slices.Equal(got, []string{"查询结果", "汇总"}) {
		t.Fatalf("sheets = %q", got)
	}
	rows, err := f.GetRows("汇总")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"计费调用数": "9,876", "结束时间": "2026-03-01 12:15:30 +00:00", "预估费用": "493.80"}
	for _, r := range rows {
		if len(r) > 1 && want[r[0]] != "" {
			if r[1] != want[r[0]] {
				t.Errorf("%s = %q, want %q", r[0], r[1], want[r[0]])
			}
			delete(want, r[0])
		}
		if len(r) > 7 && r[0] == "2" && r[7] != "完成" {
			t.Errorf("attempt 2 outcome = %q, want 完成", r[7])
		}
	}
	if len(want) > 0 {
		t.Errorf("labels missing: %v", want)
	}
}

func TestFormatters(t *testing.T) {
	ints := map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"}
	for n, want := range ints {
		if got := formatInt(n); got != want {
			t.Errorf("formatInt(%d) = %q, want %q", n, got, want)
		}
	}
	money := map[float64]string{0: "0.00", 35.1: "35.10", 1234567.891: "1,234,567.89"}
	for v, want := range money {
		if got := formatMoney(v); got != want {
			t.Errorf("formatMoney(%v) = %q, want %q", v, got, want)
		}
	}
	prices := map[float64]string{0.05: "0.05", 0.005: "0.005", 1: "1.00", 0.1: "0.10"}
	for v, want := range prices {
		if got := formatPrice(v); got != want {
			t.Errorf("formatPrice(%v) = %q, want %q", v, got, want)
		}
	}
}

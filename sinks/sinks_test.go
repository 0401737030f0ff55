package sinks

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/sources"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// answered is an answer as the API documents one (check-1e: result 0,
// account_type 1 = debit).
var answeredAt = time.Date(2026, 3, 1, 9, 30, 15, 0, time.FixedZone("CST", 8*3600))

func okAnswer(bank string) Answer {
	return Answer{Result: "0", Description: "查询成功", AccountBank: bank, AccountType: 1,
		Billing: "charged", Status: "ok", AnsweredAt: answeredAt}
}

func readCSVFile(t *testing.T, path string, comma rune) (bom bool, recs [][]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bom = bytes.HasPrefix(data, []byte(utf8BOM))
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte(utf8BOM))))
	r.Comma, r.FieldsPerRecord = comma, -1
	recs, err = r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return bom, recs
}

func TestCSV(t *testing.T) {
	hostile := Answer{Result: "-1", Description: "=HYPERLINK(\"http://x\",\"click\")", AccountBank: "=cmd|' /C calc'!A0",
		AccountType: 2, Billing: "charged", Status: "not_found", Error: "@SUM(1)", AnsweredAt: answeredAt}
	failed := Answer{Billing: "in_doubt", Status: "failed", Error: "-timeout\tafter 30s"}
	rows := []sources.Row{
		{Index: 0, Line: 2, Fields: []string{"张三", "6228481698729890079", "=1+1"}, Card: "6228481698729890079"},
		{Index: 1, Line: 3, Fields: []string{"李四", "6227009328792181234"}, Card: "6227009328792181234"},
		{Index: 2, Line: 4, Fields: []string{"王五", "6259657543231940", "+x", "extra"}, Card: "6259657543231940"},
	}
	answers := []Answer{okAnswer("中国农业银行"), hostile, failed}
	cases := []struct {
		name string
		opts Options
		bom  bool
		want [][]string
	}{
		{"en, comma, API text neutralised, own cells as they were",
			Options{Header: []string{"name", "card", "note"}, CardColumn: 1},
			false, [][]string{
				{"name", "card", "note", "result", "description", "account_bank", "account_type", "account_type_name", "billing", "status", "error", "answered_at"},
				{"张三", "6228481698729890079", "=1+1", "0", "查询成功", "中国农业银行", "1", "debit", "charged", "ok", "", "2026-03-01T09:30:15+08:00"},
				{"李四", "6227009328792181234", "", "-1", "'=HYPERLINK(\"http://x\",\"click\")", "'=cmd|' /C calc'!A0", "2", "credit", "charged", "not_found", "'@SUM(1)", "2026-03-01T09:30:15+08:00"},
				{"王五", "6259657543231940", "+x", "", "", "", "", "", "in_doubt", "failed", "'-timeout\tafter 30s", "", "extra"},
			}},
		{"zh, semicolon, BOM, prefix, csv-safe, masked",
			Options{Header: []string{"姓名", "卡号", "备注"}, CardColumn: 1, Lang: "zh", Prefix: "cb_", Delimiter: ';', BOM: true, CSVSafe: true, MaskCard: true},
			true, [][]string{
				{"姓名", "卡号", "备注", "cb_结果码", "cb_结果说明", "cb_开户行", "cb_卡类型代码", "cb_卡类型", "cb_计费", "cb_状态", "cb_错误原因", "cb_查询时间"},
				{"张三", "622848*********0079", "'=1+1", "0", "查询成功", "中国农业银行", "1", "借记卡", "charged", "ok", "", "2026-03-01T09:30:15+08:00"},
				{"李四", "622700*********1234", "", "-1", "'=HYPERLINK(\"http://x\",\"click\")", "'=cmd|' /C calc'!A0", "2", "贷记卡", "charged", "not_found", "'@SUM(1)", "2026-03-01T09:30:15+08:00"},
				{"王五", "625965******1940", "'+x", "", "", "", "", "", "in_doubt", "failed", "'-timeout\tafter 30s", "", "extra"},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.opts.Path = filepath.Join(dir, "out.csv")
			s, err := Create(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				if err := s.Write(r, answers[i]); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(c.opts.Path); !os.IsNotExist(err) {
				t.Fatalf("output visible before Commit (stat: %v)", err)
			}
			if err := s.Commit(nil); err != nil {
				t.Fatal(err)
			}
			comma := c.opts.Delimiter
			if comma == 0 {
				comma = ','
			}
			bom, got := readCSVFile(t, c.opts.Path, comma)
			if bom != c.bom {
				t.Errorf("BOM = %v, want %v", bom, c.bom)
			}
			for i := range max(len(got), len(c.want)) {
				if i >= len(got) || i >= len(c.want) || !slices.Equal(got[i], c.want[i]) {
					t.Errorf("record %d:\n got %q\nwant %q", i, at(got, i), at(c.want, i))
				}
			}
			if names := listDir(t, dir); !slices.Equal(names, []string{"out.csv"}) {
				t.Errorf("folder holds %q, want only the output", names)
			}
		})
	}
}

func at(recs [][]string, i int) []string {
	if i < len(recs) {
		return recs[i]
	}
	return nil
}

func TestNeutralise(t *testing.T) {
	cases := map[string]string{
		"=1+1": "'=1+1", "+1 (555)": "'+1 (555)", "-cmd": "'-cmd", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx",
		"-1": "-1", "-2.5": "-2.5", "+3": "+3", "--1": "'--1", "-": "'-", "-Inf": "'-Inf", "中国银行": "中国银行", "": "", "a=b": "a=b",
	}
	for in, want := range cases {
		if got := neutralise(in); got != want {
			t.Errorf("neutralise(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddedColumnsAndCheckHeader(t *testing.T) {
	if got, want := AddedColumns("en", ""), []string{"result", "description", "account_bank", "account_type",
		"account_type_name", "billing", "status", "error", "answered_at"}; !slices.Equal(got, want) {
		t.Errorf("en = %q", got)
	}
	if got, want := AddedColumns("zh", "p_"), []string{"p_结果码", "p_结果说明", "p_开户行", "p_卡类型代码",
		"p_卡类型", "p_计费", "p_状态", "p_错误原因", "p_查询时间"}; !slices.Equal(got, want) {
		t.Errorf("zh = %q", got)
	}
	cases := []struct {
		header       []string
		lang, prefix string
		clash        string // "" = accepted
	}{
		{[]string{"name", "card", "Status "}, "en", "", `"Status "`},
		{[]string{"name", "card", "status"}, "en", "cb_", ""},
		{[]string{"name", "card", "cb_status"}, "en", "cb_", `"cb_status"`},
		{[]string{"姓名", "卡号", "开户行"}, "zh", "", `"开户行"`},
		{[]string{"姓名", "卡号", "开户行"}, "en", "", ""},
		{[]string{"account_bank"}, "zh", "", ""},
	}
	for _, c := range cases {
		err := CheckHeader(c.header, c.lang, c.prefix)
		switch {
		case c.clash == "" && err != nil:
			t.Errorf("%q %s %q: %v", c.header, c.lang, c.prefix, err)
		case c.clash != "" && (err == nil || !strings.Contains(err.Error(), c.clash) || !strings.Contains(err.Error(), "--prefix")):
			t.Errorf("%q %s %q: error %v, want one naming %s and --prefix", c.header, c.lang, c.prefix, err, c.clash)
		}
	}
}

func TestCheckFits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(filepath.Join(dir, "elsewhere.csv"), link); err != nil {
		t.Fatal(err)
	}
	wide := make([]string, excelize.MaxColumns-len(addedKeys)+1)
	cases := []struct {
		name string
		opts Options
		want string // "" = fits
	}{
		{"csv ok", Options{Path: filepath.Join(dir, "out.csv"), Header: wide}, ""},
		{"xlsx just fits", Options{Path: filepath.Join(dir, "out.xlsx"), Header: wide[1:]}, ""},
		{"xlsx too wide", Options{Path: filepath.Join(dir, "out.xlsx"), Header: wide}, "write a .csv output"},
		{"output under a file", Options{Path: filepath.Join(file, "out.csv")}, "is a file, not a folder"},
		{"output folder missing", Options{Path: filepath.Join(dir, "no", "out.csv")}, "does not exist"},
		{"output a symlink", Options{Path: link}, "symbolic link"},
		{"summary under a file", Options{Path: filepath.Join(dir, "out.csv"), SummaryPath: filepath.Join(file, "s.json")}, "summary"},
		{"bad language", Options{Path: filepath.Join(dir, "out.csv"), Lang: "fr"}, "use en or zh"},
	}
	for _, c := range cases {
		err := CheckFits(c.opts)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"file", "link.csv"}) {
		t.Errorf("CheckFits left %q", names)
	}
}

func TestFitsRow(t *testing.T) {
	long := strings.Repeat("x", excelize.TotalCellChars+1)
	fit := strings.Repeat("字", excelize.TotalCellChars) // one UTF-16 unit each
	xlsx := Options{Path: "out.xlsx"}
	cases := []struct {
		name string
		opts Options
		row  sources.Row
		want string
	}{
		{"fits", xlsx, sources.Row{Line: 2, Fields: []string{fit}}, ""},
		{"long field", xlsx, sources.Row{Line: 7, Fields: []string{"a", long}}, "row 7, column B"},
		{"long stored cell", Options{Path: "out.xlsx", InputPath: "in.xlsx"}, sources.Row{Line: 9, Cells: []sources.Cell{{Value: long}}}, "row 9, column A"},
		{"too wide", xlsx, sources.Row{Line: 3, Fields: make([]string, excelize.MaxColumns)}, "columns"},
		{"too many rows", xlsx, sources.Row{Index: excelize.TotalRows, Line: 5}, "rows"},
		{"csv holds it", Options{Path: "out.csv"}, sources.Row{Line: 7, Fields: []string{long}}, ""},
	}
	for _, c := range cases {
		err := c.opts.FitsRow(c.row)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	for _, ext := range []string{".csv", ".xlsx"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out"+ext)
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Create(Options{Path: path, Header: []string{"card"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(sources.Row{Line: 2, Fields: []string{"6228481698729890079"}}, okAnswer("x")); err != nil {
			t.Fatal(err)
		}
		if err := s.Abort(); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(sources.Row{}, Answer{}); err != ErrClosed {
			t.Errorf("%s: Write after Abort = %v, want ErrClosed", ext, err)
		}
		if data, _ := os.ReadFile(path); string(data) != "old" || !slices.Equal(listDir(t, dir), []string{"out" + ext}) {
			t.Errorf("%s: after Abort the folder holds %q and the old output %q", ext, listDir(t, dir), data)
		}
	}
}

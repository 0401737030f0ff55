package main

// The input table: every input shape a user may bring (CSV in the
// encodings and dialects spreadsheets and Chinese Windows produce, XLSX
// as Excel, LibreOffice and generators write it) run through the binary,
// checking the output cell by cell, and every input that must be refused,
// checking the exit code, the message, and that nothing was created or sent.

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"

	"cardbatch/cardapi/sim"
	"cardbatch/cardnum"
)

// inputSeed seeds the cards and the simulator of the input table.
const inputSeed = 99

// testCards are realistic, distinct, Luhn-valid card numbers.
var testCards = sim.GenerateCards(inputSeed, 40)

// luhnBad returns card with its check digit changed.
func luhnBad(card string) string {
	last := card[len(card)-1] - '0'
	return card[:len(card)-1] + string('0'+(last+1)%10)
}

func encodeWith(t *testing.T, enc interface{ Bytes([]byte) ([]byte, error) }, s string) []byte {
	t.Helper()
	b, err := enc.Bytes([]byte(s))
	noErr(t, err)
	return b
}

func gbkBytes(t *testing.T, s string) []byte {
	return encodeWith(t, simplifiedchinese.GBK.NewEncoder(), s)
}

func gb18030Bytes(t *testing.T, s string) []byte {
	return encodeWith(t, simplifiedchinese.GB18030.NewEncoder(), s)
}

func utf16Bytes(t *testing.T, s string, e unicode.Endianness) []byte {
	return encodeWith(t, unicode.UTF16(e, unicode.UseBOM).NewEncoder(), s)
}

// excelizeXLSX builds a workbook with excelize and returns its bytes.
func excelizeXLSX(t *testing.T, build func(f *excelize.File)) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	build(f)
	buf, err := f.WriteToBuffer()
	noErr(t, err)
	return buf.Bytes()
}

// sheetRows writes rows from cell A<first> down.
func sheetRows(t *testing.T, f *excelize.File, sheet string, first int, rows ...[]any) {
	t.Helper()
	for i, r := range rows {
		noErr(t, f.SetSheetRow(sheet, fmt.Sprintf("A%d", first+i), &r))
	}
}

// xlsxSheet is a hand-written worksheet for handXLSX.
type xlsxSheet struct{ name, data string }

// handXLSX writes a minimal XLSX package by hand, to store cells exactly as
// Excel does where excelize would not (a formula with its cached value,
// inline strings, shared strings referenced by index).
func handXLSX(t *testing.T, sheets []xlsxSheet, sst []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, body string) {
		w, err := zw.Create(name)
		noErr(t, err)
		_, err = w.Write([]byte(body))
		noErr(t, err)
	}
	const xmlHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	ct := xmlHead + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`
	wb := xmlHead + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
		`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>`
	rels := xmlHead + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
	for i, s := range sheets {
		ct += fmt.Sprintf(`<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
		wb += fmt.Sprintf(`<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, s.name, i+1, i+1)
		rels += fmt.Sprintf(`<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i+1, i+1)
		add(fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), xmlHead+
			`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`+s.data+`</sheetData></worksheet>`)
	}
	if sst != nil {
		ct += `<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>`
		rels += fmt.Sprintf(`<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>`, len(sheets)+1)
		body := xmlHead + fmt.Sprintf(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, len(sst), len(sst))
		for _, s := range sst {
			body += `<si><t xml:space="preserve">` + s + `</t></si>`
		}
		add("xl/sharedStrings.xml", body+`</sst>`)
	}
	add("[Content_Types].xml", ct+`</Types>`)
	add("_rels/.rels", xmlHead+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	add("xl/workbook.xml", wb+`</sheets></workbook>`)
	add("xl/_rels/workbook.xml.rels", rels+`</Relationships>`)
	noErr(t, zw.Close())
	return buf.Bytes()
}

// inlineStr is an inline string cell.
func inlineStr(ref, s string) string {
	return `<c r="` + ref + `" t="inlineStr"><is><t xml:space="preserve">` + s + `</t></is></c>`
}

// twoSheets is a workbook with sheets "First" and "Second"; hidden hides
// the first one.
func twoSheets(t *testing.T, hidden bool) []byte {
	return excelizeXLSX(t, func(f *excelize.File) {
		noErr(t, f.SetSheetName("Sheet1", "First"))
		_, err := f.NewSheet("Second")
		noErr(t, err)
		sheetRows(t, f, "First", 1, []any{"name", "card"}, []any{"A", testCards[16]}, []any{"B", testCards[17]})
		sheetRows(t, f, "Second", 1, []any{"name", "card"}, []any{"C", testCards[18]})
		if hidden {
			f.SetActiveSheet(1)
			noErr(t, f.SetSheetVisible("First", false))
		}
	})
}

// bigXLSX is a valid workbook of 300 rows.
func bigXLSX(t *testing.T) []byte {
	return excelizeXLSX(t, func(f *excelize.File) {
		sheetRows(t, f, "Sheet1", 1, []any{"name", "card"})
		for i := 2; i <= 300; i++ {
			sheetRows(t, f, "Sheet1", i, []any{fmt.Sprintf("row %d", i), testCards[i%len(testCards)]})
		}
	})
}

// corruptSheet damages the compressed bytes of the first worksheet from
// fraction of its length onwards, keeping the zip directory intact.
func corruptSheet(t *testing.T, data []byte, from float64) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	noErr(t, err)
	for _, zf := range zr.File {
		if zf.Name != "xl/worksheets/sheet1.xml" {
			continue
		}
		off, err := zf.DataOffset()
		noErr(t, err)
		n := int64(zf.CompressedSize64)
		for i := off + int64(float64(n)*from); i < off+n-8; i += 5 {
			out[i] ^= 0x5A
		}
		return out
	}
	t.Fatal("no sheet1.xml in the workbook")
	return nil
}

// goodInput is an input that must be enriched (exit 0).
type goodInput struct {
	name   string
	file   string
	data   func(t *testing.T) []byte
	args   []string
	header []string   // the input's columns as the output shows them
	rows   [][]string // each output row's original cells
	card   int        // the card column in rows
	status []string   // per row; "" means: what the simulator answers, or invalid, or duplicate
	extra  [][]string // cells after the answer columns (ragged rows longer than the header)
	stderr []string   // notes expected on stderr
	errors []string   // per row: a substring of the error column ("" = not checked)
	// outBOM: the CSV output starts with a UTF-8 BOM (the input had one or
	// was GB18030, GBK or UTF-16); outDelim: its delimiter, the input's
	// (0 means ',').
	outBOM   bool
	outDelim rune
}

// badInput is an input that must be refused (exit 2).
type badInput struct {
	name string
	file string
	data func(t *testing.T) []byte
	args []string
	want []string // substrings of the message, after the file name
}

func TestInputs(t *testing.T) {
	c := testCards
	good := []goodInput{
		{name: "CSV in GBK with a Chinese header", file: "gbk.csv",
			data: func(t *testing.T) []byte {
				return gbkBytes(t, "姓名,卡号,备注\n张三,"+c[0]+",首次\n李四,"+c[1]+",\n")
			},
			header: []string{"姓名", "卡号", "备注"}, card: 1,
			rows:   [][]string{{"张三", c[0], "首次"}, {"李四", c[1], ""}},
			stderr: []string{"GB18030"}, outBOM: true},
		{name: "CSV in GB18030 with a four-byte character", file: "gb18030.csv",
			data: func(t *testing.T) []byte {
				return gb18030Bytes(t, "姓名,银行卡号,备注\n王五,"+c[2]+",笑😀\n赵六,"+luhnBad(c[3])+",\n")
			},
			header: []string{"姓名", "银行卡号", "备注"}, card: 1,
			rows: [][]string{{"王五", c[2], "笑😀"}, {"赵六", luhnBad(c[3]), ""}}, outBOM: true},
		{name: "UTF-8 with BOM", file: "bom.csv",
			data:   func(*testing.T) []byte { return []byte("\ufeffname,card\nA," + c[3] + "\nB," + c[3] + "\n") },
			header: []string{"name", "card"}, card: 1,
			rows: [][]string{{"A", c[3]}, {"B", c[3]}}, status: []string{"", "duplicate"}, outBOM: true},
		{name: "UTF-16LE with BOM", file: "utf16le.csv",
			data: func(t *testing.T) []byte {
				return utf16Bytes(t, "名字,card\r\n甲,"+c[4]+"\r\n", unicode.LittleEndian)
			},
			header: []string{"名字", "card"}, card: 1, rows: [][]string{{"甲", c[4]}}, stderr: []string{"UTF-16LE"}, outBOM: true},
		{name: "UTF-16BE with BOM", file: "utf16be.csv",
			data: func(t *testing.T) []byte {
				return utf16Bytes(t, "name,card\n乙,"+c[5]+"\n", unicode.BigEndian)
			},
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"乙", c[5]}}, stderr: []string{"UTF-16BE"}, outBOM: true},
		{name: "semicolons", file: "semicolon.csv",
			data: func(*testing.T) []byte {
				return []byte("name;card;city\nA;" + c[6] + ";Paris\nB;" + luhnBad(c[6]) + ";Rome\n")
			},
			header: []string{"name", "card", "city"}, card: 1,
			rows:   [][]string{{"A", c[6], "Paris"}, {"B", luhnBad(c[6]), "Rome"}},
			status: []string{"", "invalid"}, errors: []string{"", "Luhn"}, stderr: []string{"semicolons"}, outDelim: ';'},
		{name: "tabs in a .csv", file: "tabs.csv",
			data:   func(*testing.T) []byte { return []byte("name\tcard\tnote\nA\t" + c[7] + "\tx, y\n") },
			header: []string{"name", "card", "note"}, card: 1, rows: [][]string{{"A", c[7], "x, y"}}, outDelim: '\t'},
		{name: "tabs in a .tsv", file: "tabs.tsv",
			data:   func(*testing.T) []byte { return []byte("name\tcard\nA\t" + groupDigits(c[8], " ") + "\n") },
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"A", groupDigits(c[8], " ")}}, outDelim: '\t'},
		{name: "quoted fields with newlines and doubled quotes", file: "quoted.csv",
			data: func(*testing.T) []byte {
				return []byte("name,card,note\r\n\"Li, \"\"Jr\"\"\"," + c[9] + ",\"line 1\nline 2 \"\"quoted\"\"\"\r\n\"B\",\"" + c[10] + "\",\"\"\r\n")
			},
			header: []string{"name", "card", "note"}, card: 1,
			rows: [][]string{{`Li, "Jr"`, c[9], "line 1\nline 2 \"quoted\""}, {"B", c[10], ""}}},
		{name: "ragged rows", file: "ragged.csv",
			data: func(*testing.T) []byte {
				return []byte("name,card,city\nA," + c[11] + "\nB," + c[12] + ",X,extra 1,extra 2\nC," + c[13] + ",Y\n")
			},
			header: []string{"name", "card", "city"}, card: 1,
			rows:  [][]string{{"A", c[11], ""}, {"B", c[12], "X"}, {"C", c[13], "Y"}},
			extra: [][]string{nil, {"extra 1", "extra 2"}, nil}},
		{name: "blank lines", file: "blank.csv",
			data: func(*testing.T) []byte {
				return []byte("\nname,card\n\nA," + c[14] + "\n\n  \r\n,\nB," + c[15] + "\n\n\n")
			},
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"A", c[14]}, {"B", c[15]}}},
		{name: "trailing empty columns", file: "trailing.csv",
			data: func(*testing.T) []byte {
				return []byte("name,card,,\nA," + c[16] + ",,\nB," + c[17] + ",,\n")
			},
			header: []string{"name", "card", "", ""}, card: 1,
			rows: [][]string{{"A", c[16], "", ""}, {"B", c[17], "", ""}}},
		{name: "header with spaces and a BOM", file: "spaces.csv",
			data: func(*testing.T) []byte {
				return []byte("\ufeff  Name , Card Number  ,  Note\nA, " + c[18] + " , n\n")
			},
			header: []string{"Name", "Card Number", "Note"}, card: 1, rows: [][]string{{"A", " " + c[18] + " ", " n"}}, outBOM: true},
		{name: "an .xlsx that is really a CSV", file: "really-csv.xlsx",
			data:   func(*testing.T) []byte { return []byte("name,card\nA," + c[19] + "\n") },
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"A", c[19]}},
			stderr: []string{"not an XLSX workbook but text: read as CSV"}},

		{name: "XLSX with several sheets: the first by default", file: "sheets.xlsx",
			data:   func(t *testing.T) []byte { return twoSheets(t, false) },
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"A", c[16]}, {"B", c[17]}},
			stderr: []string{`the workbook has 2 sheets: reading the first, "First"`}},
		{name: "XLSX with several sheets: --sheet", file: "sheets.xlsx", args: []string{"--sheet", "Second"},
			data:   func(t *testing.T) []byte { return twoSheets(t, false) },
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"C", c[18]}}},
		{name: "XLSX with a hidden first sheet: read and said so", file: "hidden.xlsx",
			data:   func(t *testing.T) []byte { return twoSheets(t, true) },
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"A", c[16]}, {"B", c[17]}},
			stderr: []string{`sheet "First" is hidden`}},
		{name: "XLSX with a hidden sheet: --sheet picks the visible one", file: "hidden.xlsx", args: []string{"--sheet", "second"},
			data:   func(t *testing.T) []byte { return twoSheets(t, true) },
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"C", c[18]}}},
		{name: "XLSX formulas: the cached value", file: "formulas.xlsx",
			data: func(t *testing.T) []byte {
				return handXLSX(t, []xlsxSheet{{"Data",
					`<row r="1">` + inlineStr("A1", "name") + inlineStr("B1", "card") + inlineStr("C1", "total") + `</row>` +
						`<row r="2"><c r="A2" t="str"><f>"Li"&amp;" Lei"</f><v>Li Lei</v></c>` +
						`<c r="B2" t="str"><f>TEXT(D2,"0")&amp;""</f><v>` + c[20] + `</v></c>` +
						`<c r="C2"><f>1+1</f><v>2</v></c></row>` +
						`<row r="3">` + inlineStr("A3", "plain") + `<c r="B3" t="str"><f>CONCAT("` + c[21][:8] + `","` + c[21][8:] + `")</f><v>` + c[21] + `</v></c>` +
						`<c r="C3"><f>SUM(C2:C2)*1.5</f><v>3</v></c></row>`}}, nil)
			},
			header: []string{"name", "card", "total"}, card: 1,
			rows: [][]string{{"Li Lei", c[20], "2"}, {"plain", c[21], "3"}}},
		{name: "XLSX shared and inline strings", file: "strings.xlsx",
			data: func(t *testing.T) []byte {
				return handXLSX(t, []xlsxSheet{{"Data",
					`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>` +
						`<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="s"><v>2</v></c></row>` +
						`<row r="3">` + inlineStr("A3", "Inline 行") + inlineStr("B3", c[23]) + `</row>`}},
					[]string{"name", "卡号", c[22], "Zhang 张"})
			},
			header: []string{"name", "卡号"}, card: 1, rows: [][]string{{"Zhang 张", c[22]}, {"Inline 行", c[23]}}},
		{name: "XLSX dates", file: "dates.xlsx",
			data: func(t *testing.T) []byte {
				return excelizeXLSX(t, func(f *excelize.File) {
					sheetRows(t, f, "Sheet1", 1, []any{"name", "card", "opened"},
						[]any{"A", c[24], time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)})
					style, err := f.NewStyle(&excelize.Style{NumFmt: 14})
					noErr(t, err)
					noErr(t, f.SetCellStyle("Sheet1", "C2", "C2", style))
				})
			},
			header: []string{"name", "card", "opened"}, card: 1, rows: [][]string{{"A", c[24], "03-05-24"}}},
		{name: "XLSX numeric card cells are flagged invalid", file: "numeric.xlsx",
			data: func(t *testing.T) []byte {
				return excelizeXLSX(t, func(f *excelize.File) {
					sheetRows(t, f, "Sheet1", 1, []any{"name", "card"},
						[]any{"16 digits", 6228369290810040},
						[]any{"19 digits", int64(6227009328792181231)},
						[]any{"text", c[25]})
				})
			},
			header: []string{"name", "card"}, card: 1,
			rows:   [][]string{{"16 digits", "6228369290810040"}, {"19 digits", "6.22700932879218E+18"}, {"text", c[25]}},
			status: []string{"invalid", "invalid", ""},
			errors: []string{"as text", "as text", ""}},
		{name: "XLSX with an empty first row", file: "empty-first-row.xlsx",
			data: func(t *testing.T) []byte {
				return excelizeXLSX(t, func(f *excelize.File) {
					sheetRows(t, f, "Sheet1", 2, []any{"name", "card"}, []any{"A", c[26]}, []any{"B", c[27]})
				})
			},
			header: []string{"name", "card"}, card: 1, rows: [][]string{{"A", c[26]}, {"B", c[27]}}},
	}

	longLine := func(*testing.T) []byte {
		return []byte("name,card\nA," + c[0] + "\nB," + strings.Repeat("x", 2<<20) + "\n")
	}
	bad := []badInput{
		{name: "empty file", file: "empty.csv", data: func(*testing.T) []byte { return nil }, want: []string{"is empty"}},
		{name: "header only", file: "header.csv", data: func(*testing.T) []byte { return []byte("name,card\n\n") },
			want: []string{"has a header but no data rows", `"card"`}},
		{name: "binary garbage", file: "garbage.csv",
			data: func(*testing.T) []byte {
				return bytes.Repeat([]byte{0x00, 0x9C, 0xFF, 0x10, 0x80, 0x05, 0x01, 'x'}, 500)
			},
			want: []string{"does not look like CSV or XLSX"}},
		{name: "truncated XLSX", file: "truncated.xlsx",
			data: func(t *testing.T) []byte { d := bigXLSX(t); return d[:len(d)/2] },
			want: []string{"is not a valid .xlsx (damaged or truncated)"}},
		{name: "corrupt XLSX", file: "corrupt.xlsx",
			data: func(t *testing.T) []byte { return corruptSheet(t, bigXLSX(t), 0.02) },
			want: []string{"is not a valid .xlsx (damaged or truncated)"}},
		{name: "corrupt XLSX, damage past the first rows", file: "corrupt-late.xlsx",
			data: func(t *testing.T) []byte { return corruptSheet(t, bigXLSX(t), 0.9) },
			want: []string{"is not a valid .xlsx (damaged or truncated)"}},
		{name: "password-protected XLSX", file: "secret.xlsx",
			data: func(t *testing.T) []byte {
				f := excelize.NewFile()
				defer f.Close()
				sheetRows(t, f, "Sheet1", 1, []any{"name", "card"}, []any{"A", c[0]})
				p := filepath.Join(t.TempDir(), "secret.xlsx")
				noErr(t, f.SaveAs(p, excelize.Options{Password: "pw"}))
				b, err := os.ReadFile(p)
				noErr(t, err)
				return b
			},
			want: []string{"is password-protected"}},
		{name: "--column that does not exist", file: "cards.csv", args: []string{"--column", "IBAN"},
			data: func(*testing.T) []byte { return []byte("name,card\nA," + c[0] + "\n") },
			want: []string{`has no column named "IBAN"`, `columns seen: 1="name", 2="card"`}},
		{name: "a line longer than the limit", file: "long.csv", data: longLine,
			want: []string{"line 3 is longer than 1 MiB"}},
		{name: "a sheet that does not exist", file: "sheets.xlsx", args: []string{"--sheet", "Nope"},
			data: func(t *testing.T) []byte { return twoSheets(t, false) },
			want: []string{`has no sheet named "Nope"`, `"First", "Second"`}},
	}

	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, sim.Config{Seed: inputSeed})
			in := filepath.Join(t.TempDir(), tt.file)
			noErr(t, os.WriteFile(in, tt.data(t), 0o600))
			out := filepath.Join(t.TempDir(), "out.csv")
			args := append([]string{"run", "--input", in, "--output", out, "--endpoint", s.url, "--rate", "0", "--no-progress"}, tt.args...)
			res := runCLI(t, cliEnv(t, "test"), args...)
			if res.code != 0 {
				t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
			}
			logText := strings.ReplaceAll(res.stderr, `\"`, `"`) // slog's text format escapes quotes
			for _, w := range tt.stderr {
				if !strings.Contains(logText, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			checkGoodOutput(t, tt, readOutput(t, out, tt))
			if l := s.sim().Ledger(); l.CardsChargedMoreThanOnce != 0 {
				t.Errorf("%d cards charged twice", l.CardsChargedMoreThanOnce)
			}
		})
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, sim.Config{Seed: inputSeed})
			inDir, outDir := t.TempDir(), t.TempDir()
			in := filepath.Join(inDir, tt.file)
			noErr(t, os.WriteFile(in, tt.data(t), 0o600))
			out := filepath.Join(outDir, "out.csv")
			args := append([]string{"run", "--input", in, "--output", out, "--endpoint", s.url, "--rate", "0", "--no-progress"}, tt.args...)
			res := runCLI(t, cliEnv(t, "test"), args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
			}
			for _, w := range append([]string{in}, tt.want...) {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			for _, card := range testCards {
				if strings.Contains(res.stderr, card) {
					t.Errorf("stderr holds a whole card number:\n%s", res.stderr)
				}
			}
			if l := s.sim().Ledger(); l.Calls != 0 {
				t.Errorf("%d calls sent for an unreadable input", l.Calls)
			}
			if names := listDir(t, outDir); len(names) != 0 {
				t.Errorf("the refused run left %q beside the output (no output, checkpoint or summary may be created)", names)
			}
			if names := listDir(t, inDir); len(names) != 1 {
				t.Errorf("the input folder now holds %q", names)
			}
		})
	}
}

// readOutput reads a CSV output, which starts with a UTF-8 BOM exactly
// when the case says so and is separated by the input's delimiter.
func readOutput(t *testing.T, path string, tt goodInput) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	noErr(t, err)
	bom := []byte("\xef\xbb\xbf")
	if got := bytes.HasPrefix(b, bom); got != tt.outBOM {
		t.Errorf("output starts with a UTF-8 BOM: %v, want %v", got, tt.outBOM)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, bom)))
	r.FieldsPerRecord = -1
	if tt.outDelim != 0 {
		r.Comma = tt.outDelim
	}
	recs, err := r.ReadAll()
	noErr(t, err)
	return recs
}

// checkGoodOutput checks an enriched output against the case: header, every
// original cell, and the answer columns (from the simulator, or invalid, or
// duplicate, or the case's explicit status).
func checkGoodOutput(t *testing.T, tt goodInput, recs [][]string) {
	t.Helper()
	wantHeader := append(append([]string{}, tt.header...), answerColumns...)
	if len(recs) == 0 || fmt.Sprintf("%q", recs[0]) != fmt.Sprintf("%q", wantHeader) {
		t.Fatalf("output header %q, want %q", recs[0], wantHeader)
	}
	if len(recs)-1 != len(tt.rows) {
		t.Fatalf("output has %d data rows, want %d: %q", len(recs)-1, len(tt.rows), recs[1:])
	}
	width := len(tt.header)
	col := func(name string) int { return width + indexOf(answerColumns, name) }
	seen := map[string]bool{}
	for i, rec := range recs[1:] {
		var extra []string
		if tt.extra != nil {
			extra = tt.extra[i]
		}
		if len(rec) != len(wantHeader)+len(extra) {
			t.Fatalf("row %d has %d cells, want %d: %q", i+1, len(rec), len(wantHeader)+len(extra), rec)
		}
		if fmt.Sprintf("%q", rec[:width]) != fmt.Sprintf("%q", tt.rows[i]) {
			t.Errorf("row %d original cells %q, want %q", i+1, rec[:width], tt.rows[i])
		}
		if fmt.Sprintf("%q", rec[len(wantHeader):]) != fmt.Sprintf("%q", extra) && len(extra) > 0 {
			t.Errorf("row %d extra cells %q, want %q", i+1, rec[len(wantHeader):], extra)
		}
		card := cardnum.Normalize(tt.rows[i][tt.card])
		want := ""
		if tt.status != nil {
			want = tt.status[i]
		}
		switch {
		case want != "":
		case cardnum.Validate(card, true) != nil:
			want = "invalid"
		case seen[card]:
			want = "duplicate"
		default:
			want = statusOf[sim.Answer(inputSeed, card).Result]
		}
		if want != "invalid" {
			seen[card] = true
		}
		got := rec[col("status")]
		if got != want {
			t.Errorf("row %d: status %q, want %q (%q)", i+1, got, want, rec[width:])
			continue
		}
		switch want {
		case "invalid", "duplicate":
			if rec[col("billing")] != "none" || rec[col("result")] != "" && want == "invalid" {
				t.Errorf("row %d: %s row billed or answered: %q", i+1, want, rec[width:])
			}
		default:
			a := sim.Answer(inputSeed, card)
			if rec[col("result")] != a.Result || rec[col("account_bank")] != a.AccountBank || rec[col("description")] != a.Description {
				t.Errorf("row %d: answer %q, the simulator answers %+v", i+1, rec[width:], a)
			}
		}
		if tt.errors != nil && tt.errors[i] != "" && !strings.Contains(rec[col("error")], tt.errors[i]) {
			t.Errorf("row %d: error %q lacks %q", i+1, rec[col("error")], tt.errors[i])
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	panic("no column " + s)
}

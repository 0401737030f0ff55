package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// utf16LE encodes s as UTF-16LE with a BOM, as Excel's "Unicode text" does.
func utf16LE(t *testing.T, s string, bom bool) []byte {
	t.Helper()
	policy := unicode.IgnoreBOM
	if bom {
		policy = unicode.UseBOM
	}
	b, err := unicode.UTF16(unicode.LittleEndian, policy).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utf16BE(t *testing.T, s string) []byte {
	t.Helper()
	b, err := unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gb18030(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gbk(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCSVDelimiters(t *testing.T) {
	for _, d := range []string{",", ";", "\t", "|"} {
		name := map[string]string{",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[d]
		t.Run(name, func(t *testing.T) {
			text := strings.Join([]string{
				"name" + d + "card" + d + "city",
				"Zhang San" + d + cardA + d + "Beijing",
				"Li Si" + d + `"` + cardB + `"` + d + `"Shang` + d + `hai"`,
				"Wang" + d + cardC + d + "",
			}, "\n") + "\n"
			wantFormat := "csv"
			if d == "\t" {
				wantFormat = "tsv"
			}
			expect{
				format: wantFormat, header: []string{"name", "card", "city"}, hasHeader: true, cardCol: 1,
				fields: [][]string{{"Zhang San", cardA, "Beijing"}, {"Li Si", cardB, "Shang" + d + "hai"}, {"Wang", cardC, ""}},
				lines:  []int{2, 3, 4},
				cards:  []string{cardA, cardB, cardC},
				notes:  []string{"columns separated by " + delimNames[d[0]], `card column: "card" (column 2), found by its name`},
			}.check(t, Options{Path: writeTemp(t, "in.csv", []byte(text))})
		})
	}
	t.Run("tsv extension forces tab", func(t *testing.T) {
		text := "a,b\tcard\n1,2\t" + cardA + "\n"
		expect{format: "tsv", header: []string{"a,b", "card"}, hasHeader: true, cardCol: 1,
			fields: [][]string{{"1,2", cardA}}}.check(t, Options{Path: writeTemp(t, "in.tsv", []byte(text))})
	})
	t.Run("decimal commas do not fool the sniffer", func(t *testing.T) {
		text := "name;amount;card\nA;1,50;" + cardA + "\nB;2,75;" + cardB + "\n"
		expect{format: "csv", hasHeader: true, cardCol: 2,
			fields: [][]string{{"A", "1,50", cardA}, {"B", "2,75", cardB}}}.check(t, Options{Path: writeTemp(t, "in.csv", []byte(text))})
	})
}

func TestCSVEncodings(t *testing.T) {
	header := "姓名,卡号,备注\n"
	body := "张三," + cardA + ",首次\n李四," + cardB + ",\n"
	want := [][]string{{"张三", cardA, "首次"}, {"李四", cardB, ""}}
	tests := []struct {
		name  string
		file  string
		data  []byte
		enc   string
		notes []string
		want  [][]string
		head  []string
	}{
		{name: "utf-8", file: "in.csv", data: []byte(header + body)},
		{name: "utf-8 BOM", file: "in.csv", data: append([]byte{0xEF, 0xBB, 0xBF}, header+body...)},
		{name: "gb18030", file: "in.csv", data: gb18030(t, header+body), notes: []string{"GB18030"}},
		{name: "gbk", file: "in.csv", data: gbk(t, header+body), notes: []string{"GB18030"}},
		{name: "gbk forced", file: "in.csv", data: gbk(t, header+body), enc: "GBK", notes: []string{"GBK (as requested)"}},
		{name: "utf-16le BOM tab-separated txt (Excel Unicode text)", file: "in.txt",
			data:  utf16LE(t, strings.ReplaceAll(header+body, ",", "\t"), true),
			notes: []string{"UTF-16LE", "read as TSV"}},
		{name: "utf-16be BOM", file: "in.csv", data: utf16BE(t, header+body), notes: []string{"UTF-16BE"}},
		{name: "utf-16le without BOM", file: "in.csv", data: utf16LE(t, header+body, false), notes: []string{"UTF-16LE"}},
		{name: "utf-16 forced", file: "in.csv", data: utf16LE(t, header+body, true), enc: "utf-16", notes: []string{"as requested"}},
		{name: "utf-8 forced keeps bytes", file: "in.csv", data: []byte(header + body), enc: "utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := openT(t, Options{Path: writeTemp(t, tt.file, tt.data), Encoding: tt.enc})
			if h := in.Header(); len(h) != 3 || h[1] != "卡号" || h[0] != "姓名" {
				t.Fatalf("Header = %q", h)
			}
			if in.CardColumn() != 1 || !in.HasHeader() {
				t.Errorf("CardColumn = %d, HasHeader = %v", in.CardColumn(), in.HasHeader())
			}
			for _, n := range tt.notes {
				if !containsNote(in.Notes(), n) {
					t.Errorf("no note contains %q: %q", n, in.Notes())
				}
			}
			rows := readAll(t, in)
			got := fieldsOf(rows)
			if len(got) > 2 {
				got = got[len(got)-2:]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("last rows = %q, want %q", got, want)
			}
		})
	}
}

func TestCSVGB18030PastTheSample(t *testing.T) {
	// The first 64 KiB are ASCII, so the sniffer cannot tell; reading finds
	// GB18030 further on: within the look-ahead (long rows) and past it
	// (decided while the rows stream, no pass before the first row). Both
	// decode the whole file as GB18030 and note it.
	tests := []struct {
		name string
		rows int
		row  string
	}{
		{"within the look-ahead", 150, "x," + cardC + "," + strings.Repeat("p", 500) + "\n"},
		{"past the look-ahead", 5000, "x," + cardC + ",plain\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte("name,card,note\n" + strings.Repeat(tt.row, tt.rows))
			data = append(data, gb18030(t, "张三,"+cardA+",首次\n")...)
			in := openT(t, Options{Path: writeTemp(t, "in.csv", data)})
			rows := readAll(t, in)
			if !containsNote(in.Notes(), "GB18030 (the file is not valid UTF-8 further on") {
				t.Errorf("notes = %q", in.Notes())
			}
			if last := rows[len(rows)-1].Fields; len(rows) != tt.rows+1 || last[0] != "张三" || last[2] != "首次" {
				t.Errorf("%d rows, last = %q", len(rows), last)
			}
		})
	}
}

func TestCSVQuotingAndLayout(t *testing.T) {
	tests := []struct {
		name string
		text string
		e    expect
	}{
		{
			name: "quoted fields with newlines and doubled quotes",
			text: "card,note\n" + cardA + ",\"line one\nline \"\"two\"\"\"\n" + cardB + ",\"a,b\"\n",
			e: expect{hasHeader: true, cardCol: 0, fields: [][]string{{cardA, "line one\nline \"two\""}, {cardB, "a,b"}},
				lines: []int{2, 4}},
		},
		{
			name: "CRLF line ends, CRLF kept inside quotes",
			text: "card,note\r\n" + cardA + ",\"x\r\ny\"\r\n" + cardB + ",z\r\n",
			e: expect{hasHeader: true, fields: [][]string{{cardA, "x\r\ny"}, {cardB, "z"}},
				lines: []int{2, 4}},
		},
		{
			name: "lone CR line ends (old Mac)",
			text: "card,note\r" + cardA + ",x\r" + cardB + ",y\r",
			e: expect{hasHeader: true, fields: [][]string{{cardA, "x"}, {cardB, "y"}}, lines: []int{2, 3},
				notes: []string{"lone carriage return"}},
		},
		{
			name: "ragged rows kept as they are",
			text: "name,card,city\nA," + cardA + "\nB," + cardB + ",X,extra,more\nC\n",
			e: expect{hasHeader: true, cardCol: 1, fields: [][]string{{"A", cardA}, {"B", cardB, "X", "extra", "more"}, {"C"}},
				cards: []string{cardA, cardB, ""}},
		},
		{
			name: "blank lines skipped, not data rows",
			text: "\n\n  \ncard,name\n\n" + cardA + ",A\n\r\n   \n,,\n" + cardB + ",B\n\n",
			e:    expect{hasHeader: true, fields: [][]string{{cardA, "A"}, {cardB, "B"}}, lines: []int{6, 10}},
		},
		{
			name: "trailing empty columns kept",
			text: "card,name,,\n" + cardA + ",A,,\n" + cardB + ",,,\n",
			e: expect{header: []string{"card", "name", "", ""}, hasHeader: true,
				fields: [][]string{{cardA, "A", "", ""}, {cardB, "", "", ""}}},
		},
		{
			name: "header cells trimmed of spaces and BOM",
			text: "\ufeff Name ,  Card No \t,\ufeffCity\ufeff\n" + "A, " + cardA + " ,X\n",
			e: expect{header: []string{"Name", "Card No", "City"}, hasHeader: true, cardCol: 1,
				fields: [][]string{{"A", " " + cardA + " ", "X"}}, cards: []string{" " + cardA + " "}},
		},
		{
			name: "stray quote after a closing quote stays in the field",
			text: "card,note\n" + cardA + ",\"ab\"cd\n" + cardB + ",\"x\"\"\" y\n",
			e:    expect{hasHeader: true, fields: [][]string{{cardA, "abcd"}, {cardB, "x\" y"}}},
		},
		{
			name: "quote inside an unquoted field is literal",
			text: "card,size\n" + cardA + ",5\" screen\n",
			e:    expect{hasHeader: true, fields: [][]string{{cardA, "5\" screen"}}},
		},
		{
			name: "unclosed quote at end of file",
			text: "card,note\n" + cardA + ",\"open\nstill open\n",
			e:    expect{hasHeader: true, fields: [][]string{{cardA, "open\nstill open"}}},
		},
		{
			name: "no final newline",
			text: "card\n" + cardA + "\n" + cardB,
			e:    expect{header: []string{"card"}, hasHeader: true, fields: [][]string{{cardA}, {cardB}}, lines: []int{2, 3}},
		},
		{
			name: "headerless one column",
			text: cardA + "\n" + cardB + "\n",
			e: expect{header: []string{"card"}, hasHeader: false, fields: [][]string{{cardA}, {cardB}}, lines: []int{1, 2},
				notes: []string{"no header row"}},
		},
		{
			name: "headerless several columns",
			text: "Zhang," + cardA + ",x\nLi," + cardB + ",y\n",
			e: expect{header: []string{"column1", "column2", "column3"}, hasHeader: false, cardCol: 1,
				fields: [][]string{{"Zhang", cardA, "x"}, {"Li", cardB, "y"}}, notes: []string{"column1..column3"}},
		},
		{
			name: "headerless with formatted card numbers",
			text: "6222 0212 3456 7890 128;A\n6228-4804-0256-4890-018;B\n",
			e: expect{header: []string{"column1", "column2"}, cardCol: 0,
				cards: []string{"6222 0212 3456 7890 128", "6228-4804-0256-4890-018"}},
		},
		{
			name: "single headerless data row",
			text: cardA + ",x\n",
			e:    expect{header: []string{"column1", "column2"}, fields: [][]string{{cardA, "x"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.check(t, Options{Path: writeTemp(t, "in.csv", []byte(tt.text))})
		})
	}
}

func TestTXT(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		format string
		e      expect
	}{
		{
			name: "with header",
			text: "Card numbers\n" + cardA + "\n\n6228 4804 0256 4890 018\n",
			e: expect{format: "txt", header: []string{"Card numbers"}, hasHeader: true,
				fields: [][]string{{cardA}, {"6228 4804 0256 4890 018"}}, lines: []int{2, 4}, notes: []string{"taken as the header"}},
		},
		{
			name: "without header",
			text: "\n" + cardA + "\r\n" + cardB + "\r\nnot a card\n",
			e: expect{format: "txt", header: []string{"card"}, hasHeader: false,
				fields: [][]string{{cardA}, {cardB}, {"not a card"}}, lines: []int{2, 3, 4}},
		},
		{
			name: "no splitting and no quote handling",
			text: "卡号\n\"" + cardA + "\",x\n" + cardB + ";y\n",
			e: expect{format: "txt", header: []string{"卡号"}, hasHeader: true,
				fields: [][]string{{"\"" + cardA + "\",x"}, {cardB + ";y"}}},
		},
		{
			name:   "explicit txt format is obeyed",
			text:   "a\tb\n1\t" + cardA + "\n",
			format: "txt",
			e:      expect{format: "txt", header: []string{"a\tb"}, hasHeader: true, fields: [][]string{{"1\t" + cardA}}},
		},
		{
			name: "tab-separated .txt is read as TSV",
			text: "a\tcard\n1\t" + cardA + "\n2\t" + cardB + "\n",
			e: expect{format: "tsv", header: []string{"a", "card"}, hasHeader: true, cardCol: 1,
				fields: [][]string{{"1", cardA}, {"2", cardB}}, notes: []string{"read as TSV"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.check(t, Options{Path: writeTemp(t, "in.txt", []byte(tt.text)), Format: tt.format})
		})
	}
	t.Run("column other than 1 is refused", func(t *testing.T) {
		ie := inputError(t, Options{Path: writeTemp(t, "in.txt", []byte(cardA+"\n")), Column: "2"})
		if !strings.Contains(ie.Error(), "plain text") {
			t.Errorf("error = %v", ie)
		}
	})
	t.Run("column by header name", func(t *testing.T) {
		expect{format: "txt", header: []string{"Card No"}, hasHeader: true, fields: [][]string{{cardA}}}.
			check(t, Options{Path: writeTemp(t, "in.txt", []byte("Card No\n"+cardA+"\n")), Column: "card_no"})
	})
}

func TestColumnSelection(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		column  string
		header  bool
		cardCol int
		note    string
	}{
		{"exact name", "id,Name,Card No.,phone\n1,A," + cardA + ",13800138000\n", "", true, 2, "found by its name"},
		{"chinese name", "序号,姓名,银行卡号\n1,张三," + cardA + "\n", "", true, 2, "found by its name"},
		{"exact name wins over containment", "Card holder,card_type,PAN\nA,debit," + cardA + "\n", "", true, 2, "found by its name"},
		{"containment skips cardholder", "Cardholder Name,Card Number (16 digits)\nA," + cardA + "\n", "", true, 1, "found by its name"},
		{"by content", "id,who,number,phone\n1,A," + cardA + ",13800138000\n2,B," + cardB + ",13800138001\n", "", true, 2, "found by its content (2 of the first 2"},
		{"by content prefers Luhn-valid column", "order,acct\n123456789012345678," + cardA + "\n223456789012345678," + cardB + "\n", "", true, 1, "found by its content"},
		{"by name, case and space insensitive", "Name,BANK CARD NO\nA," + cardA + "\n", "bank_card_no", true, 1, "as given by --column"},
		{"by name, exact text", "Name,Numéro de carte\nA," + cardA + "\n", "Numéro de carte", true, 1, "as given by --column"},
		{"by index", "a,b,c\nx,y," + cardA + "\n", "3", true, 2, "as given by --column"},
		{"by index, headerless", "x,y," + cardA + "\nx,y," + cardB + "\n", "3", false, 2, "as given by --column"},
		{"a header named like a number wins over the index", "2,1\n" + cardA + ",x\n", "2", true, 0, "as given by --column"},
		{"mangled numbers still find the column", "name,value\nA,6.22202E+18\nB,6.22848E+18\n", "", true, 1, "found by its content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := openT(t, Options{Path: writeTemp(t, "in.csv", []byte(tt.text)), Column: tt.column})
			if in.CardColumn() != tt.cardCol || in.HasHeader() != tt.header {
				t.Errorf("CardColumn = %d HasHeader = %v, want %d %v", in.CardColumn(), in.HasHeader(), tt.cardCol, tt.header)
			}
			if !containsNote(in.Notes(), tt.note) {
				t.Errorf("no note %q in %q", tt.note, in.Notes())
			}
			rows := readAll(t, in)
			if len(rows) == 0 || rows[0].Card != rows[0].Fields[tt.cardCol] {
				t.Errorf("rows = %+v", rows)
			}
		})
	}

	errTests := []struct {
		name, text, column string
		want               []string
	}{
		{"name not found lists columns", "id,Name,Number\n1,A," + cardA + "\n", "cardno",
			[]string{`has no column named "cardno"`, `1="id", 2="Name", 3="Number"`, "--column"}},
		{"index out of range", "id,card\n1," + cardA + "\n", "5",
			[]string{"has no column 5", "2 columns", `1="id", 2="card"`}},
		{"index zero", "id,card\n1," + cardA + "\n", "0", []string{"has no column 0"}},
		{"no card column found", "id,name,phone\n1,A,13800138000\n2,B,13800138001\n", "",
			[]string{"has no recognisable card column", `1="id", 2="name", 3="phone"`, "pass --column"}},
		{"name on a headerless file masks the cards", cardA + ",x\n" + cardB + ",y\n", "card number",
			[]string{"has no column named", "622202*********0128", "no header row"}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "in.csv", []byte(tt.text))
			ie := inputError(t, Options{Path: path, Column: tt.column})
			msg := ie.Error()
			if !strings.HasPrefix(msg, path) {
				t.Errorf("message does not start with the path: %s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			noWholeCard(t, msg)
		})
	}
}

func TestBadTextFiles(t *testing.T) {
	long := "card\n" + cardA + "\n" + strings.Repeat("x", 2000) + "\n"
	tests := []struct {
		name string
		file string
		data []byte
		max  int
		want []string
	}{
		{"empty", "in.csv", nil, 0, []string{"in.csv is empty"}},
		{"blank lines only", "in.csv", []byte("\n  \r\n\t\n"), 0, []string{"is empty"}},
		{"BOM only", "in.csv", []byte{0xEF, 0xBB, 0xBF}, 0, []string{"is empty"}},
		{"header only", "in.csv", []byte("name,card\n\n"), 0, []string{"in.csv has a header but no data rows", `"card"`}},
		{"header only txt", "in.txt", []byte("Card numbers\n"), 0, []string{"has a header but no data rows"}},
		{"NUL bytes", "in.csv", []byte("card\x00\x00\x01\x02\x03garbage\x00"), 0, []string{"does not look like CSV or XLSX"}},
		{"random binary", "in.dat", bytes.Repeat([]byte{0x01, 0x9C, 0xFF, 0x10, 0x80, 0x05}, 200), 0, []string{"does not look like CSV or XLSX"}},
		{"PDF", "in.csv", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), 0, []string{"does not look like CSV or XLSX (it is a PDF document)"}},
		{"gzip", "in.csv", []byte{0x1F, 0x8B, 0x08, 0x00, 0x00}, 0, []string{"gzip"}},
		{"HTML saved as xls", "in.xls", []byte("<html><body><table><tr><td>card</td></tr></table></body></html>"), 0, []string{"is an HTML page, not CSV or XLSX", "save it as .xlsx"}},
		{"line too long", "in.csv", []byte(long), 1000, []string{"in.csv: line 3 is longer than 1000 bytes: is this really a CSV file?"}},
		{"unclosed quote swallows the file", "in.csv", []byte("card,note\n" + cardA + ",\"open\n" + strings.Repeat("more text\n", 200)), 1024,
			[]string{"the record that starts at line 2 is longer than 1 KiB", "never be closed"}},
		{"txt line too long", "in.txt", []byte(cardA + "\n" + strings.Repeat("9", 3000) + "\n"), 2048, []string{"line 2 is longer than 2 KiB"}},
		{"unknown encoding", "in.csv", []byte("card\n" + cardA + "\n"), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Path: writeTemp(t, tt.file, tt.data), MaxRecordBytes: tt.max}
			if tt.name == "unknown encoding" {
				opts.Encoding = "latin-9"
				tt.want = []string{`unknown encoding "latin-9"`}
			}
			ie := inputError(t, opts)
			if ie.Path != opts.Path {
				t.Errorf("Path = %q", ie.Path)
			}
			for _, w := range tt.want {
				if !strings.Contains(ie.Error(), w) {
					t.Errorf("error %q lacks %q", ie.Error(), w)
				}
			}
			noWholeCard(t, ie.Error())
		})
	}
	t.Run("missing file", func(t *testing.T) {
		ie := inputError(t, Options{Path: t.TempDir() + "/nope.csv"})
		if !strings.Contains(ie.Error(), "nope.csv does not exist") {
			t.Errorf("error = %v", ie)
		}
	})
	t.Run("folder", func(t *testing.T) {
		ie := inputError(t, Options{Path: t.TempDir()})
		if !strings.Contains(ie.Error(), "is a folder") {
			t.Errorf("error = %v", ie)
		}
	})
}

// TestPeekAndCount reads a file much longer than the look-ahead, with blank
// lines and multi-line records, and checks that rows come back in order and
// that the pre-count matches.
func TestPeekAndCount(t *testing.T) {
	var b strings.Builder
	b.WriteString("seq,card,note\n")
	line := 2
	var wantLines []int
	for i := 0; i < 1000; i++ {
		switch {
		case i%7 == 0:
			b.WriteString("\n")
			line++
		case i%11 == 0:
			b.WriteString(",,\n")
			line++
		}
		wantLines = append(wantLines, line)
		if i%13 == 0 {
			fmt.Fprintf(&b, "%d,%s,\"two\nlines\"\n", i, cardA)
			line += 2
		} else {
			fmt.Fprintf(&b, "%d,%s,x\n", i, cardB)
			line++
		}
	}
	opts := Options{Path: writeTemp(t, "big.csv", []byte(b.String()))}
	in := openT(t, opts)
	if in.TotalHint() != -1 {
		t.Errorf("TotalHint = %d, want -1 (Open does not count)", in.TotalHint())
	}
	if n := countT(t, opts); n != 1000 {
		t.Errorf("CountRows = %d, want 1000", n)
	}
	rows := readAll(t, in)
	if len(rows) != 1000 {
		t.Fatalf("read %d rows", len(rows))
	}
	for i, r := range rows {
		if r.Fields[0] != fmt.Sprint(i) || r.Line != wantLines[i] {
			t.Fatalf("row %d: fields %q line %d, want seq %d line %d", i, r.Fields, r.Line, i, wantLines[i])
		}
	}
}

func TestNextContract(t *testing.T) {
	path := writeTemp(t, "in.csv", []byte("card\n"+strings.Repeat(cardA+"\n", 500)))
	t.Run("cancelled context", func(t *testing.T) {
		in := openT(t, Options{Path: path})
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := in.Next(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := in.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Next after cancel = %v", err)
		}
	})
	t.Run("cancelled before Open", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Open(ctx, Options{Path: path}); !errors.Is(err, context.Canceled) {
			t.Errorf("Open = %v", err)
		}
	})
	t.Run("close is idempotent and stops Next", func(t *testing.T) {
		in, err := Open(context.Background(), Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
		if err := in.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if _, err := in.Next(context.Background()); err == nil || err == io.EOF {
			t.Errorf("Next after Close = %v", err)
		}
	})
	t.Run("rows are not reused", func(t *testing.T) {
		in := openT(t, Options{Path: writeTemp(t, "in.csv", []byte("card,n\n"+cardA+",1\n"+cardB+",2\n"))})
		r1, _ := in.Next(context.Background())
		r2, _ := in.Next(context.Background())
		if r1.Fields[0] != cardA || r2.Fields[0] != cardB || r1.Fields[1] != "1" {
			t.Errorf("rows changed: %q %q", r1.Fields, r2.Fields)
		}
	})
	t.Run("header copy", func(t *testing.T) {
		in := openT(t, Options{Path: path})
		in.Header()[0] = "changed"
		if in.Header()[0] != "card" {
			t.Errorf("Header is shared with the caller")
		}
	})
	t.Run("file removed after Open still reads", func(t *testing.T) {
		p := writeTemp(t, "in.csv", []byte("card\n"+cardA+"\n"))
		in := openT(t, Options{Path: p})
		os.Remove(p)
		if rows := readAll(t, in); len(rows) != 1 {
			t.Errorf("rows = %v", rows)
		}
	})
}

// TestLineTooLongPastThePeek: Open reads no further than its look-ahead,
// so an over-long line further on is an *InputError from Next, after the
// rows before it.
func TestLineTooLongPastThePeek(t *testing.T) {
	data := "card\n" + strings.Repeat(cardA+"\n", 300) + strings.Repeat("y", 5000) + "\n"
	in := openT(t, Options{Path: writeTemp(t, "in.csv", []byte(data)), MaxRecordBytes: 4096})
	n := 0
	var err error
	for ; err == nil; n++ {
		_, err = in.Next(context.Background())
	}
	var ie *InputError
	if n-1 != 300 || !errors.As(err, &ie) || !strings.Contains(ie.Error(), "line 302 is longer than 4 KiB") {
		t.Errorf("after %d rows: %v", n-1, err)
	}
}

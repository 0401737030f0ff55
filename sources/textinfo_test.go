package sources

import (
	"strings"
	"testing"
)

// TestTextInfo checks what Open reports about a text file for the output to
// keep: the encoding decoded from, whether it had a BOM, and its delimiter.
func TestTextInfo(t *testing.T) {
	body := "姓名,卡号\n张三," + cardA + "\n李四," + cardB + "\n"
	semi := strings.ReplaceAll(body, ",", ";")
	tests := []struct {
		name   string
		file   string
		data   []byte
		forced string
		enc    string
		bom    bool
		delim  rune
	}{
		{"utf-8", "in.csv", []byte(body), "", "utf-8", false, ','},
		{"utf-8 BOM", "in.csv", append([]byte{0xEF, 0xBB, 0xBF}, body...), "", "utf-8", true, ','},
		{"gbk detected as gb18030", "in.csv", gbk(t, body), "", "gb18030", false, ','},
		{"gbk forced", "in.csv", gbk(t, body), "gbk", "gbk", false, ','},
		{"gb18030 semicolons", "in.csv", gb18030(t, semi), "", "gb18030", false, ';'},
		{"utf-16le BOM tabs", "in.txt", utf16LE(t, strings.ReplaceAll(body, ",", "\t"), true), "", "utf-16le", true, '\t'},
		{"utf-16le without BOM", "in.csv", utf16LE(t, body, false), "", "utf-16le", false, ','},
		{"utf-16be BOM", "in.csv", utf16BE(t, body), "", "utf-16be", true, ','},
		{"pipes", "in.csv", []byte(strings.ReplaceAll(body, ",", "|")), "", "utf-8", false, '|'},
		{"tsv", "in.tsv", []byte(strings.ReplaceAll(body, ",", "\t")), "", "utf-8", false, '\t'},
		{"one card a line", "in.txt", []byte(cardA + "\n" + cardB + "\n"), "", "utf-8", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := openT(t, Options{Path: writeTemp(t, tt.file, tt.data), Encoding: tt.forced})
			if in.Encoding() != tt.enc || in.HadBOM() != tt.bom || in.Delimiter() != tt.delim {
				t.Errorf("Encoding %q HadBOM %v Delimiter %q, want %q %v %q",
					in.Encoding(), in.HadBOM(), in.Delimiter(), tt.enc, tt.bom, tt.delim)
			}
			if in.Sheet() != "" {
				t.Errorf("Sheet = %q for a text file", in.Sheet())
			}
		})
	}
}

// TestTextInfoLateGB18030: a file that is ASCII for its first 64 KiB
// reports UTF-8 until reading meets its GB18030 bytes, then GB18030.
func TestTextInfoLateGB18030(t *testing.T) {
	data := []byte("name,card,note\n" + strings.Repeat("x,"+cardC+",plain\n", 5000))
	data = append(data, gb18030(t, "张三,"+cardA+",首次\n")...)
	in := openT(t, Options{Path: writeTemp(t, "in.csv", data)})
	if in.Encoding() != "utf-8" {
		t.Errorf("before reading: Encoding %q, want utf-8", in.Encoding())
	}
	readAll(t, in)
	if in.Encoding() != "gb18030" || in.HadBOM() || in.Delimiter() != ',' {
		t.Errorf("after reading: Encoding %q HadBOM %v Delimiter %q, want gb18030 false ','", in.Encoding(), in.HadBOM(), in.Delimiter())
	}
}

// TestXLSXSheetName: Sheet names the sheet read as the workbook spells it,
// whatever --sheet asked for; an XLSX input has no text encoding.
func TestXLSXSheetName(t *testing.T) {
	row := func(card string) string {
		return `<row r="1"><c r="A1" t="inlineStr"><is><t>card</t></is></c></row>` +
			`<row r="2"><c r="A2" t="inlineStr"><is><t>` + card + `</t></is></c></row>`
	}
	path := rawXLSX(t, []rawSheet{{name: "客户", data: row(cardA)}, {name: "Cards", data: row(cardB)}}, nil)
	for _, tt := range []struct{ asked, want string }{{"", "客户"}, {"客户", "客户"}, {" cards ", "Cards"}, {"CARDS", "Cards"}} {
		t.Run("asked "+tt.asked, func(t *testing.T) {
			in := openT(t, Options{Path: path, Sheet: tt.asked})
			if in.Sheet() != tt.want || in.Encoding() != "" || in.HadBOM() || in.Delimiter() != 0 {
				t.Errorf("Sheet %q Encoding %q HadBOM %v Delimiter %q, want %q \"\" false 0",
					in.Sheet(), in.Encoding(), in.HadBOM(), in.Delimiter(), tt.want)
			}
		})
	}
}

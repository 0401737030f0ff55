package sources

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestUTF8Check(t *testing.T) {
	valid := strings.Repeat("ascii 卡号 ünï 😀 ", 500)
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"valid", valid, true},
		{"invalid in the middle", valid[:3001] + "\xff" + valid[3001:], false},
		{"cut rune at the end", valid + "\xe5\x8d", false},
		{"bad continuation", "ab\xe5\x41cd", false},
		{"lone continuation", "ab\x80", false},
		{"gbk", "\xd5\xc5\xc8\xfd", false},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, tt := range tests {
		for rn, wrap := range readers {
			t.Run(tt.name+"/"+rn, func(t *testing.T) {
				got, err := io.ReadAll(&utf8Check{r: wrap(strings.NewReader(tt.data))})
				if tt.ok {
					if err != nil || string(got) != tt.data {
						t.Errorf("err %v, %d of %d bytes", err, len(got), len(tt.data))
					}
				} else if !errors.Is(err, errNotUTF8) {
					t.Errorf("err = %v, want errNotUTF8", err)
				}
			})
		}
	}
}

func TestCSVUTF8PastTheSample(t *testing.T) {
	// ASCII for the first 64 KiB, then valid UTF-8: stays UTF-8.
	data := "name,card\n" + strings.Repeat("x,"+cardC+"\n", 4000) + "张三," + cardA + "\n"
	in := openT(t, Options{Path: writeTemp(t, "in.csv", []byte(data))})
	rows := readAll(t, in)
	if last := rows[len(rows)-1]; last.Fields[0] != "张三" || containsNote(in.Notes(), "GB18030") {
		t.Errorf("last row %q, notes %q", last.Fields, in.Notes())
	}
}

func TestDetectEncoding(t *testing.T) {
	tests := []struct {
		name, head, forced string
		want               string
		bom                int
		tentative          bool
	}{
		{"ascii", "card\n1\n", "", encUTF8, 0, true},
		{"utf-8", "卡号\n", "", encUTF8, 0, false},
		{"utf-8 cut at the end", "卡号\n\xe5\x8d", "", encUTF8, 0, false},
		{"utf-8 BOM", "\xef\xbb\xbfcard", "", encUTF8, 3, false},
		{"utf-16le BOM", "\xff\xfec\x00", "", encUTF16LE, 2, false},
		{"utf-16be BOM", "\xfe\xff\x00c", "", encUTF16BE, 2, false},
		{"utf-16le no BOM", "c\x00a\x00r\x00d\x00\n\x00", "", encUTF16LE, 0, false},
		{"gbk", "\xbf\xa8\xba\xc5\n", "", encGB18030, 0, false},
		{"forced gbk", "card", encGBK, encGBK, 0, false},
		{"forced utf-16 with BE BOM", "\xfe\xff\x00c", encUTF16, encUTF16BE, 2, false},
		{"forced utf-16 without BOM", "c\x00", encUTF16, encUTF16LE, 0, false},
		{"forced utf-8 with BOM", "\xef\xbb\xbfx", encUTF8, encUTF8, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := detectEncoding([]byte(tt.head), tt.forced)
			if e.name != tt.want || e.bomLen != tt.bom || e.tentative != tt.tentative {
				t.Errorf("got %+v, want %s bom %d tentative %v", e, tt.want, tt.bom, tt.tentative)
			}
		})
	}
}

func TestSniffDelimiter(t *testing.T) {
	tests := []struct {
		name, sample string
		delim        byte
		freq         int
	}{
		{"comma", "a,b,c\n1,2,3\n", ',', 2},
		{"semicolon with decimal commas", "a;b\n1,5;2\n3,5;4\n", ';', 3},
		{"tab", "a\tb\n1\t2\n", '\t', 2},
		{"pipe", "a|b|c\n1|2|3\n", '|', 2},
		{"quoted delimiters ignored", "a;b\n\"1,2,3\";x\n\"4,5,6\";y\n", ';', 3},
		{"quoted newline", "a,b\n\"x\ny;z\",1\n", ',', 2},
		{"one column", "card\n123\n", ',', 0},
		{"blank lines ignored", "\n\na;b\n\n1;2\n", ';', 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, f, _ := sniffDelimiter([]byte(tt.sample))
			if d != tt.delim || f != tt.freq {
				t.Errorf("got %q %d, want %q %d", d, f, tt.delim, tt.freq)
			}
		})
	}
}

func TestLooksLikeMangledCard(t *testing.T) {
	for v, want := range map[string]bool{
		"6.22848E+15": true, "6.22700932879218E+18": true, "6E+15": true, "6.2e11": true,
		"6.22E+10": false, "6.22E+19": false, "622848": false, "6,22E+15": false, "E+15": false, "0.5E+15": false,
	} {
		if got := looksLikeMangledCard(v); got != want {
			t.Errorf("looksLikeMangledCard(%q) = %v", v, got)
		}
	}
}

func TestInputErrorMessage(t *testing.T) {
	tests := []struct {
		e    InputError
		want string
	}{
		{InputError{Path: "a.csv", Problem: "is empty"}, "a.csv is empty"},
		{InputError{Path: "a.csv", Problem: "line 3 is longer than 1 MiB", Hint: "is this really a CSV file?"},
			"a.csv: line 3 is longer than 1 MiB: is this really a CSV file?"},
		{InputError{Path: "a.csv", Problem: `has no column named "x"`, Hint: "pass --column", Columns: []string{"id", cardA, "6.22848E+15", "note " + cardB}},
			`a.csv has no column named "x" (columns seen: 1="id", 2="622202*********0128", 3="6.*******15", 4="note 622848*********0018"): pass --column`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
		noWholeCard(t, tt.e.Error())
	}
	if !IsInputError(errors.Join(errors.New("x"), &InputError{})) || IsInputError(errors.New("x")) {
		t.Error("IsInputError")
	}
	many := make([]string, 40)
	if s := quoteColumns(many); !strings.Contains(s, "… 10 more") {
		t.Errorf("quoteColumns = %s", s)
	}
}

func TestUngroup(t *testing.T) {
	for v, want := range map[string]string{
		"622,836,929,084": "622836929084", "6,228,369,290,810,037": "6228369290810037",
		"1,5": "1,5", ",123": ",123", "1234,567": "1234,567", "abc,def": "abc,def", "622836929084": "622836929084",
	} {
		if got := ungroup(v); got != want {
			t.Errorf("ungroup(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestPeekByteBudget: huge records end the look-ahead early, and the rows
// still all come back in order with an exact count.
func TestPeekByteBudget(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	data := "card,blob\n" + cardA + "," + big + "\n" + cardB + "," + big + "\n" + cardC + "," + big + "\n" + cardD + ",small\n"
	opts := Options{Path: writeTemp(t, "big.csv", []byte(data)), MaxRecordBytes: 4 << 20}
	in := openT(t, opts)
	rows := readAll(t, in)
	if got := cardsOf(rows); strings.Join(got, " ") != strings.Join([]string{cardA, cardB, cardC, cardD}, " ") || countT(t, opts) != 4 {
		t.Errorf("cards %q, CountRows %d", got, countT(t, opts))
	}
}

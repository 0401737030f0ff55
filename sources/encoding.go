package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding names, as normalised by normalizeEncoding and shown in notes.
const (
	encUTF8    = "utf-8"
	encUTF16LE = "utf-16le"
	encUTF16BE = "utf-16be"
	encUTF16   = "utf-16" // forced by the user: endianness from the BOM, else little-endian
	encGB18030 = "gb18030"
	encGBK     = "gbk"
)

// textEncoding is the decided encoding of a text file.
type textEncoding struct {
	name   string // one of the enc* names (never encUTF16: resolved to LE or BE)
	bomLen int    // bytes of byte order mark to skip at the start of the file
	// tentative is set when UTF-8 was chosen from a pure-ASCII sample: the
	// full pass verifies it and falls back to GB18030 on invalid UTF-8.
	tentative bool
	note      string // human note about how the encoding was decided; "" for plain UTF-8
}

// errNotUTF8 is returned by utf8Check when a tentatively UTF-8 file turns out
// to hold invalid UTF-8.
var errNotUTF8 = errors.New("sources: text is not valid UTF-8")

// normalizeEncoding checks Options.Encoding and returns its canonical name.
func normalizeEncoding(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "_", "-")
	switch n {
	case "":
		return "", nil
	case "utf-8", "utf8", "utf-8-sig":
		return encUTF8, nil
	case "gb18030":
		return encGB18030, nil
	case "gbk", "gb2312", "cp936", "euc-cn":
		return encGBK, nil
	case "utf-16", "utf16", "ucs-2", "unicode":
		return encUTF16, nil
	case "utf-16le", "utf16le":
		return encUTF16LE, nil
	case "utf-16be", "utf16be":
		return encUTF16BE, nil
	}
	return "", fmt.Errorf("has an unknown encoding %q requested", name)
}

// detectEncoding decides the encoding of a text file from its first bytes
// (head) and the user's choice (forced, normalised; "" = detect).
func detectEncoding(head []byte, forced string) textEncoding {
	bomEnc := ""
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		bomEnc = encUTF8
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		bomEnc = encUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		bomEnc = encUTF16BE
	}
	switch forced {
	case encUTF8:
		if bomEnc == encUTF8 {
			return textEncoding{name: encUTF8, bomLen: 3}
		}
		return textEncoding{name: encUTF8}
	case encGB18030, encGBK:
		return textEncoding{name: forced, note: "decoded as " + strings.ToUpper(forced) + " (as requested)"}
	case encUTF16, encUTF16LE, encUTF16BE:
		name := forced
		if name == encUTF16 {
			name = encUTF16LE
			if bomEnc == encUTF16BE {
				name = encUTF16BE
			}
		}
		skip := 0
		if bomEnc == name {
			skip = 2
		}
		return textEncoding{name: name, bomLen: skip, note: "decoded as " + strings.ToUpper(name) + " (as requested)"}
	}
	switch bomEnc {
	case encUTF8:
		return textEncoding{name: encUTF8, bomLen: 3}
	case encUTF16LE:
		return textEncoding{name: encUTF16LE, bomLen: 2, note: "decoded as UTF-16LE (Unicode text, from its byte order mark)"}
	case encUTF16BE:
		return textEncoding{name: encUTF16BE, bomLen: 2, note: "decoded as UTF-16BE (from its byte order mark)"}
	}
	if e := utf16WithoutBOM(head); e != "" {
		return textEncoding{name: e, note: "decoded as " + strings.ToUpper(e) + " (no byte order mark, detected from the zero bytes)"}
	}
	valid, ascii := utf8Prefix(head)
	switch {
	case !valid:
		return textEncoding{name: encGB18030, note: "decoded as GB18030 (the file is not UTF-8; Chinese Windows encoding assumed)"}
	case ascii:
		return textEncoding{name: encUTF8, tentative: true}
	default:
		return textEncoding{name: encUTF8}
	}
}

// utf8Prefix reports whether head is valid UTF-8 (ignoring a rune cut at its
// end) and whether it is pure ASCII.
func utf8Prefix(head []byte) (valid, ascii bool) {
	ascii = true
	for _, c := range head {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return true, true
	}
	end := len(head) - incompleteTail(head)
	return utf8.Valid(head[:end]), false
}

// utf16WithoutBOM recognises UTF-16 text without a byte order mark by its
// zero bytes (ASCII text in UTF-16 has a zero in every other byte). It
// returns encUTF16LE, encUTF16BE or "".
func utf16WithoutBOM(head []byte) string {
	n := len(head) &^ 1
	if n < 8 {
		return ""
	}
	var zeroEven, zeroOdd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			zeroEven++
		}
		if head[i+1] == 0 {
			zeroOdd++
		}
	}
	pairs := n / 2
	switch {
	case zeroOdd*10 >= pairs*3 && zeroEven*50 <= pairs:
		return encUTF16LE
	case zeroEven*10 >= pairs*3 && zeroOdd*50 <= pairs:
		return encUTF16BE
	}
	return ""
}

// incompleteTail returns how many bytes at the end of b form the start of a
// rune that is cut off (0 to 3).
func incompleteTail(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return 0
			}
			return len(b) - i
		}
	}
	return 0
}

// decoder returns the x/text decoder for an encoding, or nil for UTF-8.
func (e textEncoding) decoder() *encoding.Decoder {
	switch e.name {
	case encUTF16LE:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case encUTF16BE:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	case encGB18030:
		return simplifiedchinese.GB18030.NewDecoder()
	case encGBK:
		return simplifiedchinese.GBK.NewDecoder()
	}
	return nil
}

// wrap returns a reader of UTF-8 text over r, which must be positioned after
// the byte order mark.
func (e textEncoding) wrap(r io.Reader) io.Reader {
	if d := e.decoder(); d != nil {
		return transform.NewReader(r, d)
	}
	if e.tentative {
		return &lateDecoder{src: r}
	}
	return r
}

// lateLook is how much lateDecoder looks at, from the first non-ASCII
// byte, to decide between UTF-8 and GB18030.
const lateLook = 4 << 10

// lateDecoder reads a file whose start was pure ASCII: it passes ASCII
// through and, at the first non-ASCII byte, decides from the next lateLook
// bytes as detectEncoding does from a file's start: valid UTF-8 (then
// checked to the end: errNotUTF8 at an invalid sequence), else GB18030 for
// the rest. The text before was ASCII, the same in both, so the result is
// the whole file decoded as the one encoding, without a pass before the
// first row.
type lateDecoder struct {
	src      io.Reader
	r        io.Reader // once decided
	switched bool      // decoded as GB18030 from the first non-ASCII byte
}

// Read implements io.Reader.
func (l *lateDecoder) Read(p []byte) (int, error) {
	if l.r != nil {
		return l.r.Read(p)
	}
	n, err := l.src.Read(p)
	i := 0
	for i < n && p[i] < utf8.RuneSelf {
		i++
	}
	if i == n {
		return n, err
	}
	look := append([]byte(nil), p[i:n]...)
	for err == nil && len(look) < lateLook {
		buf := make([]byte, lateLook-len(look))
		var m int
		m, err = l.src.Read(buf)
		look = append(look, buf[:m]...)
	}
	rest := io.MultiReader(bytes.NewReader(look), l.src)
	switch {
	case err != nil && err != io.EOF:
		rest = io.MultiReader(bytes.NewReader(look), errReader{err})
	case err == io.EOF:
		rest = bytes.NewReader(look)
	}
	tail := 0
	if err == nil {
		tail = incompleteTail(look)
	}
	if utf8.Valid(look[:len(look)-tail]) {
		l.r = &utf8Check{r: rest}
	} else {
		l.r, l.switched = transform.NewReader(rest, simplifiedchinese.GB18030.NewDecoder()), true
	}
	if i > 0 {
		return i, nil
	}
	return l.r.Read(p)
}

// errReader returns its error from every Read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decodeSample decodes the start of a file (head, BOM included) to UTF-8.
// A rune cut at the end of head is dropped.
func (e textEncoding) decodeSample(head []byte) []byte {
	b := head[min(e.bomLen, len(head)):]
	d := e.decoder()
	if d == nil {
		return b
	}
	out, _, err := transform.Bytes(d, b)
	if err != nil {
		// A cut multi-byte sequence at the end: decode what is complete.
		for cut := 1; cut <= 4 && cut < len(b); cut++ {
			if out, _, err = transform.Bytes(d, b[:len(b)-cut]); err == nil {
				break
			}
		}
	}
	return out
}

// utf8Check passes bytes through unchanged while verifying that they are
// valid UTF-8; it returns errNotUTF8 from Read at the first invalid
// sequence. A rune split between two reads is checked when it is complete.
type utf8Check struct {
	r     io.Reader
	carry [utf8.UTFMax]byte
	nc    int
}

// Read implements io.Reader.
func (c *utf8Check) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	b := p[:n]
	for c.nc > 0 && len(b) > 0 { // finish the rune cut by the previous read
		c.carry[c.nc] = b[0]
		c.nc++
		b = b[1:]
		if utf8.FullRune(c.carry[:c.nc]) {
			if !utf8.Valid(c.carry[:c.nc]) {
				return 0, errNotUTF8
			}
			c.nc = 0
		}
	}
	if len(b) > 0 {
		t := incompleteTail(b)
		if !utf8.Valid(b[:len(b)-t]) {
			return 0, errNotUTF8
		}
		c.nc = copy(c.carry[:], b[len(b)-t:])
	}
	if err == io.EOF && c.nc > 0 {
		return 0, errNotUTF8
	}
	return n, err
}

// crToLF turns every carriage return into a line feed: used for files whose
// lines end with a lone CR (old Mac "CSV (Macintosh)" exports).
type crToLF struct{ r io.Reader }

// Read implements io.Reader.
func (c crToLF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	b := p[:n]
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			break
		}
		b[i] = '\n'
		b = b[i+1:]
	}
	return n, err
}

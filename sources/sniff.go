package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"

	"github.com/richardlehane/mscfb"
)

// sniffLen is how much of a file is read to decide its kind, encoding and
// delimiter.
const sniffLen = 64 << 10

// fileKind is what the first bytes of a file say it is.
type fileKind int

const (
	kindText   fileKind = iota // CSV, TSV or plain text
	kindEmpty                  // no bytes at all
	kindZip                    // a ZIP archive: an XLSX workbook, hopefully
	kindOLE2                   // an OLE2 compound file: .xls, or an encrypted .xlsx
	kindBinary                 // anything else that is not text
	kindMarkup                 // HTML or XML that is not a workbook we read
)

// sniffResult is the outcome of sniffFile.
type sniffResult struct {
	kind fileKind
	what string // for kindBinary: " (it is a PDF document)"; for kindMarkup: "an HTML page"
	head []byte // the first sniffLen bytes (fewer if the file is shorter)
	eof  bool   // head is the whole file
}

// Magic numbers of common binary formats, for a friendlier message.
var binaryMagics = []struct {
	magic []byte
	what  string
}{
	{[]byte("%PDF-"), " (it is a PDF document)"},
	{[]byte{0x1F, 0x8B}, " (it is a gzip archive: unpack it first)"},
	{[]byte("\x89PNG"), " (it is a PNG image)"},
	{[]byte{0xFF, 0xD8, 0xFF}, " (it is a JPEG image)"},
	{[]byte("Rar!"), " (it is a RAR archive: unpack it first)"},
	{[]byte("7z\xBC\xAF\x27\x1C"), " (it is a 7-Zip archive: unpack it first)"},
	{[]byte("\x7FELF"), " (it is a program)"},
	{[]byte("SQLite format 3\x00"), " (it is an SQLite database)"},
	{[]byte{0x00, 0x00, 0xFE, 0xFF}, " (it is UTF-32 text: save it as UTF-8)"},
	{[]byte{0xFF, 0xFE, 0x00, 0x00}, " (it is UTF-32 text: save it as UTF-8)"},
}

var ole2Magic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// sniffFile reads the start of path and says what kind of file it is.
// forcedEnc is the user's encoding ("" = detect); with one, text that does
// not decode cleanly is not called binary.
func sniffFile(path, forcedEnc string) (sniffResult, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return sniffResult{}, &InputError{Path: path, Problem: "cannot be read (permission denied)", Hint: "check the file's permissions", Err: err}
		}
		return sniffResult{}, fmt.Errorf("sources: %w", err)
	}
	defer f.Close()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	eof := false
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		eof = true
	case err != nil:
		return sniffResult{}, fmt.Errorf("sources: reading %s: %w", path, err)
	}
	head = head[:n]
	return sniffResult{kind: classify(head, forcedEnc), what: describe(head), head: head, eof: eof}, nil
}

// classify decides a file's kind from its first bytes.
func classify(head []byte, forcedEnc string) fileKind {
	switch {
	case len(head) == 0:
		return kindEmpty
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")), bytes.HasPrefix(head, []byte("PK\x07\x08")):
		return kindZip
	case bytes.HasPrefix(head, ole2Magic):
		return kindOLE2
	}
	for _, m := range binaryMagics {
		if bytes.HasPrefix(head, m.magic) {
			return kindBinary
		}
	}
	enc := detectEncoding(head, forcedEnc)
	text := enc.decodeSample(head)
	if markupKind(text) != "" {
		return kindMarkup
	}
	if forcedEnc == "" && looksBinary(text, enc.name != encUTF8) {
		return kindBinary
	}
	return kindText
}

// describe returns the " (it is ...)" suffix for a binary file, or the name
// of a markup document.
func describe(head []byte) string {
	for _, m := range binaryMagics {
		if bytes.HasPrefix(head, m.magic) {
			return m.what
		}
	}
	enc := detectEncoding(head, "")
	return markupKind(enc.decodeSample(head))
}

// markupKind recognises HTML pages and XML files saved with a spreadsheet
// extension (web exports often are); it returns "" for anything else.
func markupKind(text []byte) string {
	t := bytes.TrimLeft(text, " \t\r\n\uFEFF")
	if len(t) == 0 || t[0] != '<' {
		return ""
	}
	low := bytes.ToLower(t[:min(len(t), 4096)])
	switch {
	case bytes.Contains(low, []byte("urn:schemas-microsoft-com:office:spreadsheet")):
		return "an Excel 2003 XML spreadsheet"
	case bytes.Contains(low, []byte("<html")), bytes.Contains(low, []byte("<table")), bytes.HasPrefix(low, []byte("<!doctype html")):
		return "an HTML page"
	case bytes.HasPrefix(low, []byte("<?xml")):
		return "an XML file"
	}
	return ""
}

// looksBinary reports whether decoded text holds NUL bytes, or more than 1%
// control characters, or (when decoded is set: the text was converted from
// another encoding) more than 1% replacement characters, which stand for
// bytes that did not decode.
func looksBinary(text []byte, decoded bool) bool {
	if len(text) == 0 {
		return false
	}
	if bytes.IndexByte(text, 0) >= 0 {
		return true
	}
	bad, runes := 0, 0
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			runes++
			i++
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1A) || c == 0x7F {
				bad++
			}
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		runes++
		i += size
		if decoded && r == utf8.RuneError {
			bad++
		}
	}
	return bad*100 > runes
}

// ole2Error explains an OLE2 compound file: a password-protected workbook
// (Excel stores those as an encrypted package inside OLE2) or a legacy .xls.
func ole2Error(path, ext string) *InputError {
	encrypted, legacy := ole2Streams(path)
	switch {
	case encrypted || (!legacy && (ext == ".xlsx" || ext == ".xlsm")):
		return &InputError{Path: path, Problem: "is password-protected", Hint: "remove the password in Excel (File > Info > Protect Workbook) and try again"}
	case legacy || ext == ".xls":
		return &InputError{Path: path, Problem: "is a legacy Excel 97-2003 workbook (.xls)", Hint: "open it in Excel and save it as .xlsx (File > Save As > Excel Workbook), then try again"}
	}
	return &InputError{Path: path, Problem: "is an old-format Office file (OLE2), not CSV or XLSX", Hint: "open it in Excel and save it as .xlsx, then try again"}
}

// ole2Streams lists the streams of an OLE2 file and reports whether it holds
// an encrypted package (a password-protected .xlsx) or a legacy workbook.
// A file that cannot be parsed reports neither.
func ole2Streams(path string) (encrypted, legacy bool) {
	f, err := os.Open(path)
	if err != nil {
		return false, false
	}
	defer f.Close()
	defer func() {
		if recover() != nil { // a damaged file must not crash the run
			encrypted, legacy = false, false
		}
	}()
	r, err := mscfb.New(f)
	if err != nil {
		return false, false
	}
	for _, e := range r.File {
		switch e.Name {
		case "EncryptedPackage", "EncryptionInfo":
			encrypted = true
		case "Workbook", "Book":
			legacy = true
		}
	}
	return encrypted, legacy
}

package sources

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// scanner splits UTF-8 text into records: CSV records (RFC 4180 quoting,
// read leniently the way Excel does) or, in lines mode, whole lines. It keeps
// one record's bytes in a reused buffer; record() copies them out.
//
// Differences from encoding/csv with LazyQuotes, on purpose:
//   - line breaks inside quoted fields are kept verbatim (CRLF stays CRLF),
//     so a cell reads back exactly as it was written;
//   - after a closing quote, text up to the next delimiter is appended to the
//     field (`"ab"cd` reads as `abcd`, as in Excel and Python) instead of
//     reopening the quote, so one stray quote cannot swallow the rest of the
//     file;
//   - records and lines are capped (max bytes) with an error naming the line;
//   - a record's fields share one string allocation.
type scanner struct {
	br    *bufio.Reader
	delim byte
	lines bool // one field per line, no quoting (TXT)
	max   int  // longest accepted record, in bytes

	line      int // physical lines consumed so far
	startLine int // line where the current record starts (1-based)
	lineBuf   []byte
	rec       []byte // the current record's field bytes, unescaped
	ends      []int  // end offset of each field in rec
}

// tooLongError reports an over-long line or record.
type tooLongError struct {
	line  int  // 1-based line where the line or record starts
	multi bool // a record of several lines (an unclosed quote, probably)
	max   int
}

func (e *tooLongError) Error() string {
	if e.multi {
		return "the record that starts at line " + strconv.Itoa(e.line) + " is longer than " + sizeText(e.max)
	}
	return "line " + strconv.Itoa(e.line) + " is longer than " + sizeText(e.max)
}

// newScanner returns a scanner over r.
func newScanner(r io.Reader, delim byte, lines bool, max int) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, 64<<10), delim: delim, lines: lines, max: max}
}

// scan reads the next non-blank record (one with a field that is not all
// white space). It returns io.EOF after the last one.
func (s *scanner) scan() error {
	for {
		if err := s.scanRecord(); err != nil {
			return err
		}
		if !isBlank(s.rec) {
			return nil
		}
	}
}

// record returns the current record's fields, in one fresh allocation.
func (s *scanner) record() []string {
	str := string(s.rec)
	fields := make([]string, len(s.ends))
	prev := 0
	for i, e := range s.ends {
		fields[i] = str[prev:e]
		prev = e
	}
	return fields
}

// readLine returns the next physical line, with its line break. The slice
// is valid until the next call. It returns io.EOF when no bytes are left.
func (s *scanner) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.lineBuf = append(s.lineBuf[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(s.lineBuf) > s.max+2 {
				return nil, &tooLongError{line: s.line + 1, max: s.max}
			}
			line, err = s.br.ReadSlice('\n')
			s.lineBuf = append(s.lineBuf, line...)
		}
		line = s.lineBuf
	}
	if len(line) == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(trimEOL(line)) > s.max {
		return nil, &tooLongError{line: s.line + 1, max: s.max}
	}
	s.line++
	return line, nil
}

// scanRecord reads one record, blank or not.
func (s *scanner) scanRecord() error {
	line, err := s.readLine()
	if err != nil {
		return err
	}
	s.startLine = s.line
	s.rec = s.rec[:0]
	s.ends = s.ends[:0]
	if s.lines {
		s.rec = append(s.rec, trimEOL(line)...)
		s.ends = append(s.ends, len(s.rec))
		return nil
	}
	size := len(line)
	d := s.delim
field:
	for {
		if len(line) == 0 || line[0] != '"' {
			// Unquoted field: up to the delimiter or the end of the line.
			if i := bytes.IndexByte(line, d); i >= 0 {
				s.rec = append(s.rec, line[:i]...)
				s.ends = append(s.ends, len(s.rec))
				line = line[i+1:]
				continue field
			}
			s.rec = append(s.rec, trimEOL(line)...)
			s.ends = append(s.ends, len(s.rec))
			return nil
		}
		// Quoted field.
		line = line[1:]
		for {
			i := bytes.IndexByte(line, '"')
			if i >= 0 {
				s.rec = append(s.rec, line[:i]...)
				line = line[i+1:]
				if len(line) > 0 && line[0] == '"' { // "" is one quote
					s.rec = append(s.rec, '"')
					line = line[1:]
					continue
				}
				// The closing quote: anything after it, up to the delimiter,
				// belongs to the field as written.
				if j := bytes.IndexByte(line, d); j >= 0 {
					s.rec = append(s.rec, line[:j]...)
					s.ends = append(s.ends, len(s.rec))
					line = line[j+1:]
					continue field
				}
				s.rec = append(s.rec, trimEOL(line)...)
				s.ends = append(s.ends, len(s.rec))
				return nil
			}
			if len(line) == 0 { // end of file inside quotes, no line break
				s.ends = append(s.ends, len(s.rec))
				return nil
			}
			// The quoted field goes on on the next line: keep the break.
			s.rec = append(s.rec, line...)
			next, err := s.readLine()
			if err == io.EOF { // unclosed quote at the end of the file
				s.rec = trimEOL(s.rec)
				s.ends = append(s.ends, len(s.rec))
				return nil
			}
			var tl *tooLongError
			if errors.As(err, &tl) {
				return &tooLongError{line: s.startLine, multi: true, max: s.max}
			}
			if err != nil {
				return err
			}
			size += len(next)
			if size > s.max+2 {
				return &tooLongError{line: s.startLine, multi: true, max: s.max}
			}
			line = next
		}
	}
}

// trimEOL removes one trailing "\n", "\r\n" or "\r".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// isBlank reports whether b holds only white space (Unicode spaces and the
// BOM).
func isBlank(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if !unicode.IsSpace(r) && r != '\uFEFF' && r != '\u200B' {
			return false
		}
		i += size
	}
	return true
}

// isBlankString is isBlank for a string.
func isBlankString(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf {
			if !unicode.IsSpace(r) && r != '\uFEFF' && r != '\u200B' {
				return false
			}
			continue
		}
		if r != ' ' && r != '\t' && r != '\r' && r != '\n' && r != '\v' && r != '\f' {
			return false
		}
	}
	return true
}

// isBlankFields reports whether every field is white space.
func isBlankFields(fields []string) bool {
	for _, f := range fields {
		if !isBlankString(f) {
			return false
		}
	}
	return true
}

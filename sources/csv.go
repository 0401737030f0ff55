package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// delimCandidates are the delimiters that sniffDelimiter chooses among, in
// order of preference on a tie.
var delimCandidates = []byte{',', ';', '\t', '|'}

// delimNames name delimiters in notes.
var delimNames = map[byte]string{',': "commas", ';': "semicolons", '\t': "tabs", '|': "vertical bars (|)"}

// sniffRecords is how many records of the sample sniffDelimiter looks at.
const sniffRecords = 50

// sniffDelimiter finds the delimiter of CSV text from its first records,
// counting candidates outside quotes. For each candidate it takes the most
// common non-zero count per record; the candidate whose count repeats in
// the most records wins (ties: the order of delimCandidates). freq is how
// many records had that count and records how many were looked at; freq is
// 0 when no candidate occurs (a one-column file).
func sniffDelimiter(sample []byte) (delim byte, freq, records int) {
	var counts [4][]int
	cur := [4]int{}
	inQuote := false
	nonBlank := false
	flush := func() {
		if nonBlank {
			for c := range delimCandidates {
				counts[c] = append(counts[c], cur[c])
			}
			records++
		}
		cur = [4]int{}
		nonBlank = false
	}
	for _, b := range sample {
		if records >= sniffRecords {
			break
		}
		switch {
		case b == '"':
			inQuote = !inQuote
			nonBlank = true
		case inQuote:
		case b == '\n':
			flush()
		case b == ',':
			cur[0]++
			nonBlank = true
		case b == ';':
			cur[1]++
			nonBlank = true
		case b == '\t':
			cur[2]++
			nonBlank = true
		case b == '|':
			cur[3]++
			nonBlank = true
		case b != ' ' && b != '\r':
			nonBlank = true
		}
	}
	if records < sniffRecords {
		flush()
	}
	delim = ','
	for c, d := range delimCandidates {
		hist := map[int]int{}
		f := 0
		for _, n := range counts[c] {
			if n > 0 {
				hist[n]++
				f = max(f, hist[n])
			}
		}
		if f > freq {
			delim, freq = d, f
		}
	}
	return delim, freq, records
}

// openText opens a CSV, TSV or TXT file. If a file that looked like ASCII at
// its start turns out not to be UTF-8 further on, it is read again as
// GB18030.
func openText(ctx context.Context, opts Options, sn sniffResult, format string, explicit bool, notes []string) (Input, error) {
	enc := detectEncoding(sn.head, opts.Encoding)
	in, err := openTextAs(ctx, opts, sn, enc, format, explicit, notes)
	if errors.Is(err, errNotUTF8) {
		enc = textEncoding{name: encGB18030, note: gbLateNote}
		in, err = openTextAs(ctx, opts, sn, enc, format, explicit, notes)
	}
	return in, err
}

// gbLateNote is the note for a file found to be GB18030 past its start.
const gbLateNote = "decoded as GB18030 (the file is not valid UTF-8 further on; Chinese Windows encoding assumed)"

// streamError is textError for an error met after Open: invalid UTF-8 in a
// file read as UTF-8 cannot be read again in another encoding any more.
func streamError(path string, sc *scanner, err error) error {
	if errors.Is(err, errNotUTF8) {
		return &InputError{Path: path, Problem: fmt.Sprintf("is not valid UTF-8 near line %d, although it is UTF-8 before", sc.startLine),
			Hint: "save it again as CSV (UTF-8) from Excel, or pass --encoding with its encoding", Err: err}
	}
	return textError(path, err)
}

// textStream opens path for reading records with a scanner. late is the
// reader that decides the encoding of a file whose start is ASCII, or nil.
func textStream(path string, enc textEncoding, delim byte, lines, crOnly bool, max int) (_ *os.File, _ *scanner, late *lateDecoder, _ error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sources: %w", err)
	}
	if enc.bomLen > 0 {
		if _, err := f.Seek(int64(enc.bomLen), io.SeekStart); err != nil {
			f.Close()
			return nil, nil, nil, fmt.Errorf("sources: %w", err)
		}
	}
	r := enc.wrap(f)
	late, _ = r.(*lateDecoder)
	if crOnly {
		r = crToLF{r}
	}
	return f, newScanner(r, delim, lines, max), late, nil
}

// textError turns a scanner error into an *InputError where the user can
// fix it; errNotUTF8 and others are returned as they are.
func textError(path string, err error) error {
	var tl *tooLongError
	switch {
	case errors.As(err, &tl) && tl.multi:
		return &InputError{Path: path, Problem: tl.Error(), Hint: "a quote (\") opened there may never be closed: check that line", Err: err}
	case errors.As(err, &tl):
		return &InputError{Path: path, Problem: tl.Error(), Hint: "is this really a CSV file?", Err: err}
	case errors.Is(err, errNotUTF8), err == io.EOF:
		return err
	}
	return fmt.Errorf("sources: reading %s: %w", path, err)
}

// openTextAs opens a text file with a given encoding.
func openTextAs(ctx context.Context, opts Options, sn sniffResult, enc textEncoding, format string, explicit bool, notes []string) (Input, error) {
	notes = append([]string(nil), notes...)
	if enc.note != "" {
		notes = append(notes, enc.note)
	}
	sample := enc.decodeSample(sn.head)
	if !sn.eof {
		if i := bytes.LastIndexByte(sample, '\n'); i > 0 {
			sample = sample[:i+1]
		}
	}
	crOnly := bytes.IndexByte(sample, '\n') < 0 && bytes.IndexByte(sample, '\r') >= 0
	if crOnly {
		sample = bytes.ReplaceAll(sample, []byte{'\r'}, []byte{'\n'})
		notes = append(notes, "lines end with a lone carriage return (old Mac format)")
	}

	delim, lines := byte(','), false
	switch format {
	case "tsv":
		delim = '\t'
	case "txt":
		d, freq, recs := sniffDelimiter(sample)
		if !explicit && freq >= 1 && freq*10 >= recs*8 && (freq >= 2 || recs == 1) {
			delim = d
			format = "csv"
			if d == '\t' {
				format = "tsv"
			}
			notes = append(notes, fmt.Sprintf("the .txt file has columns separated by %s: read as %s", delimNames[d], strings.ToUpper(format)))
		} else {
			lines = true
		}
	default:
		d, freq, _ := sniffDelimiter(sample)
		if freq > 0 {
			delim = d
		}
		if delim == '\t' {
			format = "tsv"
		} else {
			format = "csv"
		}
		if freq > 0 {
			notes = append(notes, "columns separated by "+delimNames[delim])
		}
	}

	max := opts.MaxRecordBytes
	f, sc, late, err := textStream(opts.Path, enc, delim, lines, crOnly, max)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()

	recs := make([]record, 0, peekRecords)
	eof, size := false, 0
	for !peekFull(recs, size) {
		if err := sc.scan(); err == io.EOF {
			eof = true
			break
		} else if err != nil {
			return nil, textError(opts.Path, err)
		}
		recs = append(recs, record{fields: sc.record(), line: sc.startLine})
		size += len(sc.rec)
	}
	total := len(recs)
	if total == 0 {
		return nil, &InputError{Path: opts.Path, Problem: "is empty", Hint: "export the data with a header row and at least one card number"}
	}
	lay, err := detectLayout(opts.Path, recs, lines, opts.Column)
	if err != nil {
		return nil, err
	}
	data := recs
	if lay.hasHeader {
		data = recs[1:]
		if total > 0 {
			total--
		}
	}
	if !eof {
		total = -1 // unknown until counted: CountRows
	}
	if total == 0 {
		return nil, &InputError{Path: opts.Path, Problem: "has a header but no data rows", Hint: "add the card numbers under the header, or check that you picked the right file", Columns: lay.header}
	}
	notes = append(notes, lay.notes...)

	in := &input{
		path: opts.Path, format: format, header: lay.header, hasHeader: lay.hasHeader,
		cardCol: lay.cardCol, total: total, notes: notes, pending: data,
		read: func() (record, error) {
			if err := sc.scan(); err != nil {
				return record{}, streamError(opts.Path, sc, err)
			}
			return record{fields: sc.record(), line: sc.startLine}, nil
		},
		closeFn: f.Close,
		bom:     enc.bomLen > 0,
		lateNote: func() string {
			if late != nil && late.switched {
				return gbLateNote
			}
			return ""
		},
		encoding: func() string {
			if late != nil && late.switched {
				return encGB18030
			}
			return enc.name
		},
		count: func(ctx context.Context) (int, error) {
			return countRecords(ctx, opts.Path, enc, delim, lines, crOnly, max)
		},
	}
	if lines {
		in.format = "txt"
	} else {
		in.delim = rune(delim)
	}
	ok = true
	return in, nil
}

// countRecords counts the non-blank records of a text file with the same
// scanner that reads it, so the count is exact; it reports the errors that
// reading would meet (over-long lines, invalid UTF-8) up front.
func countRecords(ctx context.Context, path string, enc textEncoding, delim byte, lines, crOnly bool, max int) (int, error) {
	f, sc, _, err := textStream(path, enc, delim, lines, crOnly, max)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		if n&8191 == 0 {
			if err := ctxDone(ctx); err != nil {
				return 0, err
			}
		}
		err := sc.scan()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, textError(path, err)
		}
		n++
	}
}

package sinks

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"sync"

	"cardbatch/billing"
	"cardbatch/cardnum"
	"cardbatch/sources"
)

// csvBufferSize is the write buffer of a CSV sink: large enough that a row is
// rarely a system call.
const csvBufferSize = 1 << 20

// utf8BOM makes Excel read a CSV file as UTF-8 rather than the locale's code
// page.
const utf8BOM = "\ufeff"

// csvSink writes rows with encoding/csv (LF line ends, fields quoted only
// when needed, the input's delimiter) to a temporary file renamed into
// place by Commit.
type csvSink struct {
	mu    sync.Mutex
	opts  Options
	lang  string
	width int // the input header's width: the added cells start there
	tmp   *os.File
	buf   *bufio.Writer
	w     *csv.Writer
	out   []string
	done  bool
}

func newCSVSink(opts Options) (*csvSink, error) {
	tmp, err := createTemp(opts.Path, opts.StageDir, opts.Mode)
	if err != nil {
		return nil, err
	}
	lang, _ := langOf(opts.Lang)
	s := &csvSink{opts: opts, lang: lang, width: len(opts.Header), tmp: tmp, buf: bufio.NewWriterSize(tmp, csvBufferSize)}
	// csv.NewWriter reuses s.buf as is: it is a *bufio.Writer larger than
	// csv's own default, so there is one buffer, not two.
	s.w = csv.NewWriter(s.buf)
	if opts.Delimiter != 0 {
		s.w.Comma = opts.Delimiter
	}
	if opts.BOM {
		if _, err := s.buf.WriteString(utf8BOM); err != nil {
			_ = discardTemp(tmp)
			return nil, fmt.Errorf("write %q: %w", tmp.Name(), err)
		}
	}
	if opts.Header != nil {
		header := append(append([]string{}, opts.Header...), AddedColumns(lang, opts.Prefix)...)
		if err := s.w.Write(header); err != nil {
			_ = discardTemp(tmp)
			return nil, fmt.Errorf("write header to %q: %w", tmp.Name(), err)
		}
	}
	return s, nil
}

// Write writes the row's fields (padded to the header's width; cells past
// it follow the added ones, so the added columns stay aligned), then the
// answer. Added text is neutralised against formula injection, the input's
// own cells only with Options.CSVSafe.
func (s *csvSink) Write(row sources.Row, a Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	out := append(s.out[:0], row.Fields...)
	for len(out) < s.width {
		out = append(out, "")
	}
	extra := out[s.width:]
	own := out[:s.width:s.width]
	if s.opts.MaskCard && s.opts.CardColumn < len(own) {
		own[s.opts.CardColumn] = cardnum.Mask(cardnum.Normalize(own[s.opts.CardColumn]))
	}
	if s.opts.CSVSafe {
		for i := range own {
			own[i] = neutralise(own[i])
		}
	}
	rec := make([]string, 0, len(out)+len(addedKeys))
	rec = append(rec, own...)
	for _, t := range answerTexts(a, s.lang) {
		rec = append(rec, neutralise(t))
	}
	rec = append(rec, extra...)
	s.out = out
	if err := s.w.Write(rec); err != nil {
		return fmt.Errorf("write %q: %w", s.tmp.Name(), err)
	}
	return nil
}

// Commit ignores sum: the billing summary of a CSV output is written
// separately with WriteSummaryJSON.
func (s *csvSink) Commit(_ *billing.Summary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	s.done = true
	s.w.Flush() // flushes s.buf too
	if err := s.w.Error(); err != nil {
		_ = discardTemp(s.tmp)
		return fmt.Errorf("write %q: %w", s.tmp.Name(), err)
	}
	return commitTemp(s.tmp, s.path())
}

func (s *csvSink) path() string { return s.opts.Path }

func (s *csvSink) Abort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	return discardTemp(s.tmp)
}

package sinks

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"sync"

	"cardbatch/billing"
)

// csvBufferSize is the write buffer of a CSV sink: large enough that a row is
// rarely a system call.
const csvBufferSize = 1 << 20

// utf8BOM makes Excel read a CSV file as UTF-8 rather than the locale's code
// page.
const utf8BOM = "\ufeff"

// csvSink writes rows with encoding/csv (LF line ends, fields quoted only
// when needed) to a temporary file renamed into place by Commit.
type csvSink struct {
	mu   sync.Mutex
	path string
	tmp  *os.File
	buf  *bufio.Writer
	w    *csv.Writer
	done bool
}

func newCSVSink(opts Options) (*csvSink, error) {
	tmp, err := createTemp(opts.Path, opts.StageDir, opts.Mode)
	if err != nil {
		return nil, err
	}
	s := &csvSink{path: opts.Path, tmp: tmp, buf: bufio.NewWriterSize(tmp, csvBufferSize)}
	// csv.NewWriter reuses s.buf as is: it is a *bufio.Writer larger than
	// csv's own default, so there is one buffer, not two.
	s.w = csv.NewWriter(s.buf)
	s.w.UseCRLF = false
	if opts.BOM {
		if _, err := s.buf.WriteString(utf8BOM); err != nil {
			_ = discardTemp(tmp)
			return nil, fmt.Errorf("write %q: %w", tmp.Name(), err)
		}
	}
	if len(opts.Header) > 0 {
		if err := s.w.Write(opts.Header); err != nil {
			_ = discardTemp(tmp)
			return nil, fmt.Errorf("write header to %q: %w", tmp.Name(), err)
		}
	}
	return s, nil
}

func (s *csvSink) Write(fields []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	if err := s.w.Write(fields); err != nil {
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
	return commitTemp(s.tmp, s.path)
}

func (s *csvSink) Abort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	return discardTemp(s.tmp)
}

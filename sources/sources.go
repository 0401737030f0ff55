// Package sources reads the input of a run — CSV, TSV, plain text (one card a
// line) or XLSX — as a stream of rows behind one small interface, Input. It
// detects the format, the text encoding, the delimiter, the header and the
// card column, and it never holds more than a bounded number of rows in
// memory, whatever the size of the file.
//
// Problems that the user must fix (an empty file, a damaged workbook, a
// column that does not exist...) are returned as *InputError.
package sources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Options says what to read. The zero value of every field but Path means
// "detect it".
type Options struct {
	// Path is a regular file (stdin is spooled to a file by the caller).
	Path string
	// Format is "", "csv", "tsv", "txt" or "xlsx". "" picks by extension
	// (.csv .tsv .txt .xlsx) and sniffs the content for other extensions.
	// The content wins over a wrong extension or Format when it is
	// unambiguous (a ".xlsx" that is really CSV is read as CSV, and Notes
	// says so).
	Format string
	// Sheet is the XLSX sheet name; "" means the first sheet in workbook
	// order, hidden or not (Notes says when it is hidden).
	Sheet string
	// Column is the card column: a header name (compared without case,
	// spaces, underscores, dashes and dots) or a 1-based index; "" means
	// auto-detect.
	Column string
	// Encoding is "", "utf-8", "gb18030", "gbk" or "utf-16" ("utf-16le" and
	// "utf-16be" are accepted too). "" detects: a BOM decides; otherwise
	// UTF-8 when the text is valid UTF-8, else GB18030.
	Encoding string
	// TmpDir is the folder where excelize may spill unzipped XML parts; the
	// caller owns and cleans it. "" means the system default.
	TmpDir string
	// MaxRecordBytes is the longest accepted CSV record or TXT line, in
	// bytes; 0 means 1 MiB.
	MaxRecordBytes int
}

// DefaultMaxRecordBytes is the record size limit used when
// Options.MaxRecordBytes is 0.
const DefaultMaxRecordBytes = 1 << 20

// Row is one data row. Its slices belong to the caller: an Input never
// reuses them.
type Row struct {
	// Index is the 0-based data row index (the header is not a data row);
	// consecutive from 0, with no gaps (blank lines and rows are not data
	// rows and take no index).
	Index int
	// Line is the 1-based line where the record starts (CSV, TSV, TXT) or
	// the sheet row number (XLSX), for messages.
	Line int
	// Fields are the row's cells as the user sees them: CSV fields as
	// written (ragged rows kept as they are); XLSX formatted values (dates
	// formatted, formulas as their cached value), padded with "" up to the
	// header's width.
	Fields []string
	// Card is the raw text of the card cell ("" if the row is too short).
	// For an XLSX numeric cell that holds an integer of at most 15 digits
	// it is the exact integer digits, whatever the cell's number format.
	Card string
	// CardNumericUnsafe is set (XLSX only) when the card cell is a numeric
	// cell that cannot hold a card number exactly: 16 or more digits before
	// the decimal point (spreadsheets keep 15 significant digits) or more
	// than 15 significant digits. Card then holds the cell's raw value.
	CardNumericUnsafe bool
	// Cells are the row's cells as stored (XLSX only; nil for CSV, TSV and
	// TXT), one per column up to the header's width, so that an XLSX output
	// can write every original cell back with its type, style and formula.
	Cells []Cell
}

// Cell is one XLSX cell as stored in the sheet.
type Cell struct {
	// Type is the cell's t attribute: "" or "n" (number), "s" (a shared
	// string, already resolved into Value), "str" (a formula's string
	// result), "inlineStr", "b" (boolean), "e" (error) or "d" (ISO date).
	Type string
	// Value is the raw stored value (a number as written in the XML, the
	// text of a string); for a formula, its cached result.
	Value string
	// Formula is the cell's formula without the leading "=", "" if none.
	// A cell that shares a formula written in another cell gets it as it
	// applies to this cell (relative references moved, as Excel does).
	Formula string
	// FormulaFromMaster is set when Formula is a shared formula's text as
	// written in its first cell, not translated to this cell (a reference
	// would leave the sheet).
	FormulaFromMaster bool
	// Style is the cell's s attribute: an index into the workbook's cell
	// formats (0 when absent).
	Style int
}

// Input is an open source of rows. It is not safe for concurrent use.
type Input interface {
	// Header returns the column names (a copy). When the file has no header
	// they are synthesised: "card" for a one-column file, else
	// "column1".."columnN". It always has at least CardColumn()+1 names
	// (a header shorter than the card column is completed with "columnN").
	Header() []string
	// HasHeader reports whether the file's first non-blank row is a header.
	HasHeader() bool
	// CardColumn returns the 0-based index of the card column in Header.
	CardColumn() int
	// Format returns "csv", "tsv", "txt" or "xlsx": how the file is read.
	Format() string
	// TotalHint returns the number of data rows as far as Open knows
	// without reading the whole file: exact when the file is small enough
	// to have been read whole by Open; for XLSX otherwise the rows the
	// sheet's <dimension> spans below the header (blank rows included);
	// otherwise -1 (unknown: CountRows counts them).
	TotalHint() int
	// Encoding returns the text encoding the file is decoded from: "utf-8",
	// "utf-16le", "utf-16be", "gb18030" or "gbk"; "" for XLSX. A file whose
	// start is ASCII and which turns out not to be UTF-8 further on reports
	// "utf-8" until Next has read that far, then "gb18030".
	Encoding() string
	// HadBOM reports whether the text file starts with the byte order mark
	// of the encoding it is decoded from (UTF-8 or UTF-16); false for XLSX.
	HadBOM() bool
	// Delimiter returns the field delimiter of a CSV or TSV file (',', ';',
	// '\t' or '|'); 0 for TXT (one card a line) and XLSX.
	Delimiter() rune
	// Sheet returns the name of the XLSX sheet read, as the workbook spells
	// it (whatever case --sheet used, or the first sheet's when none was
	// asked for); "" for text files.
	Sheet() string
	// Notes returns human notes about what was detected (encoding,
	// delimiter, header, card column, hidden sheet, wrong extension...).
	// They never contain a card number.
	Notes() []string
	// Next returns the next data row. It returns io.EOF after the last row
	// and never returns a row and an error together. It blocks only on file
	// reads; it returns ctx.Err() once ctx is done.
	Next(ctx context.Context) (Row, error)
	// Close releases the file and any temporary files. It is idempotent.
	Close() error
}

// Open opens opts.Path, detects its format, encoding, header and card column
// and returns an Input positioned before the first data row. Problems with
// the file itself are returned as *InputError; header-only and empty files
// are detected here. The caller must Close the Input.
func Open(ctx context.Context, opts Options) (Input, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	format, err := normalizeFormat(opts.Format)
	if err != nil {
		return nil, &InputError{Path: opts.Path, Problem: err.Error(), Hint: "use csv, tsv, txt or xlsx"}
	}
	opts.Format = format
	if opts.Encoding, err = normalizeEncoding(opts.Encoding); err != nil {
		return nil, &InputError{Path: opts.Path, Problem: err.Error(), Hint: "use utf-8, gb18030, gbk or utf-16"}
	}

	st, err := os.Stat(opts.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &InputError{Path: opts.Path, Problem: "does not exist", Hint: "check the path given to --input", Err: err}
	case errors.Is(err, fs.ErrPermission):
		return nil, &InputError{Path: opts.Path, Problem: "cannot be read (permission denied)", Hint: "check the file's permissions", Err: err}
	case err != nil:
		return nil, fmt.Errorf("sources: %w", err)
	case st.IsDir():
		return nil, &InputError{Path: opts.Path, Problem: "is a folder, not a file", Hint: "give --input a .csv, .tsv, .txt or .xlsx file"}
	case !st.Mode().IsRegular():
		return nil, &InputError{Path: opts.Path, Problem: "is not a regular file", Hint: "save the data to a file and give its path"}
	}

	k, err := sniffFile(opts.Path, opts.Encoding)
	if err != nil {
		return nil, err
	}
	ext := strings.ToLower(filepath.Ext(opts.Path))
	var notes []string
	switch k.kind {
	case kindEmpty:
		return nil, &InputError{Path: opts.Path, Problem: "is empty", Hint: "export the data with a header row and at least one card number"}
	case kindOLE2:
		return nil, ole2Error(opts.Path, ext)
	case kindBinary:
		return nil, &InputError{Path: opts.Path, Problem: "does not look like CSV or XLSX" + k.what, Hint: "give a .csv, .tsv, .txt or .xlsx file"}
	case kindMarkup:
		return nil, &InputError{Path: opts.Path, Problem: "is " + k.what + ", not CSV or XLSX", Hint: "open it in Excel and save it as .xlsx or CSV (UTF-8)"}
	case kindZip:
		if opts.Format != "" && opts.Format != "xlsx" {
			notes = append(notes, fmt.Sprintf("the file is an XLSX workbook, not %s: read as XLSX", strings.ToUpper(opts.Format)))
		} else if opts.Format == "" && ext != ".xlsx" && ext != ".xlsm" {
			notes = append(notes, "the file is an XLSX workbook"+extText(ext)+": read as XLSX")
		}
		return openXLSX(ctx, opts, notes)
	}

	// Text.
	format = opts.Format
	explicit := format != ""
	if format == "xlsx" || (!explicit && (ext == ".xlsx" || ext == ".xlsm")) {
		notes = append(notes, "the file is not an XLSX workbook but text: read as CSV")
		format, explicit = "csv", false
	}
	if format == "" {
		switch ext {
		case ".tsv", ".tab":
			format = "tsv"
		case ".txt":
			format = "txt"
		case ".csv":
			format = "csv"
		default:
			format = "csv"
			if ext != "" {
				notes = append(notes, "the file is text"+extText(ext)+": read as delimited text")
			}
		}
	}
	return openText(ctx, opts, k, format, explicit, notes)
}

// extText names an unexpected extension in a note: ` despite its ".xls"
// extension`, or "" when the file has none.
func extText(ext string) string {
	if ext == "" {
		return ""
	}
	return fmt.Sprintf(" despite its %q extension", ext)
}

// normalizeFormat checks Options.Format.
func normalizeFormat(f string) (string, error) {
	f = strings.ToLower(strings.TrimSpace(f))
	f = strings.TrimPrefix(f, ".")
	switch f {
	case "", "csv", "tsv", "txt", "xlsx":
		return f, nil
	case "text":
		return "txt", nil
	case "xlsm":
		return "xlsx", nil
	}
	return "", fmt.Errorf("has an unknown format %q", f)
}

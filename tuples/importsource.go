package tuples

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// MaxImportBatch is the largest ImportOptions.BatchSize honoured; larger
// sizes are cut to it (by every driver, so that a batch means the same
// everywhere).
const MaxImportBatch = maxImportBatch

// KeptImportErrors is how many skipped lines' errors ImportResult.Invalid
// keeps.
const KeptImportErrors = keptErrors

// ImportLines yields the relationship lines of an import input, with their
// line numbers, exactly as Store.Import reads them: blank and comment lines
// skipped, YAML validation files reduced to their relationships block. A
// driver opens its input with NewImportLines and hands it to RunImport,
// which parses and validates the lines, so that every driver decodes the
// same inputs with the same FILE:N: errors.
type ImportLines struct {
	// Name is the input's name for messages ("input" when none was given).
	Name string
	src  lineSource
}

// NewImportLines opens r as opts describe (Name, Format). A YAML input is
// read whole here, so its errors (not YAML, no relationships block) come
// back at once, as Store.Import returns them.
func NewImportLines(r io.Reader, opts ImportOptions) (*ImportLines, error) {
	name := opts.Name
	if name == "" {
		name = "input"
	}
	format := opts.Format
	if format == FormatAuto {
		format = FormatLines
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml":
			format = FormatYAML
		}
	}
	switch format {
	case FormatLines:
		return &ImportLines{Name: name, src: newTextSource(r)}, nil
	case FormatYAML:
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", name, err)
		}
		lines, err := yamlRelationships(name, data)
		if err != nil {
			return nil, err
		}
		return &ImportLines{Name: name, src: &sliceSource{lines: lines, bytes: int64(len(data))}}, nil
	}
	return nil, fmt.Errorf("import %s: unknown format %d", name, format)
}

// Next returns the next relationship line and its 1-based line number, or
// io.EOF at the end. Any other error is a fault reading the input at that
// line (not a parse error: the caller parses the text); Store.Import stops
// on it with a *LineError even when skipping invalid lines.
func (l *ImportLines) Next() (text string, line int, err error) { return l.src.next() }

// Position is how many lines and bytes have been read so far (what
// ImportStats reports); safe to call from any goroutine.
func (l *ImportLines) Position() (lines, bytes int64) { return l.src.position() }

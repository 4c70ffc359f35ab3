package main

import (
	"encoding/json"
	"io"
)

// writeJSON prints v as indented JSON and a newline: the --output json form
// of every command. HTML escaping is off, so that an arrow reads "->" and
// not "-\u003e" (and & and < stay as they are): the output is for programs
// and people, never pasted into HTML.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

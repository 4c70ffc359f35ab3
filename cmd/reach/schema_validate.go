package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
	"github.com/spf13/cobra"
)

func init() { schemaSubcommands = append(schemaSubcommands, newSchemaValidateCmd) }

func newSchemaValidateCmd() *cobra.Command {
	var strict bool
	c := &cobra.Command{
		Use:   "validate [--strict] FILE...",
		Short: "Check schema files (.zed) and report every error with its position",
		Long: `Check schema files written in the SpiceDB schema language (.zed): syntax,
names, references, and the rules SpiceDB enforces when a schema is written.
A FILE of - reads the standard input.

Every fault goes to the standard error as FILE:LINE:COL: message, as many as
one run can find; SpiceDB's lint warnings as FILE:LINE:COL: warning: message
(a comment "// spicedb-ignore-warning: NAME" above the relation or permission
silences one). --strict counts warnings as errors. For each valid file the
standard output gets a line such as "FILE: valid (4 definitions, 1 caveat)";
with --output json, one JSON document describes every file instead.

Exit status: 0 when every file is valid, 1 when one is not, 2 on a usage
error, 3 when a file cannot be read.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := schemaStdinOnce(args); err != nil {
				return err
			}
			var reports []schemaReport
			readFailed := false
			for _, path := range args {
				src, name, err := readSchemaInput(cmd.InOrStdin(), path)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "reach: %v\n", err)
					readFailed = true
					continue
				}
				reports = append(reports, checkSchema(name, src, strict))
			}
			var err error
			if global.output == "json" {
				err = writeSchemaReportsJSON(cmd.OutOrStdout(), reports)
			} else {
				err = writeSchemaReportsText(cmd.OutOrStdout(), cmd.ErrOrStderr(), reports)
			}
			if err != nil {
				return err
			}
			switch {
			case readFailed:
				return exitWith(exitError3, "")
			case schemaAnyInvalid(reports):
				return exitWith(exitNo, "")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	return c
}

// schemaReport is the outcome of checking one schema file.
type schemaReport struct {
	File        string
	Valid       bool
	Definitions int
	Caveats     int
	Diagnostics []schema.Diagnostic // errors and warnings, in source order
	Strict      bool                // warnings count as errors
}

// checkSchema compiles src and reports on it; with strict, a warning makes
// the schema invalid.
func checkSchema(name string, src []byte, strict bool) schemaReport {
	prog, diags, err := schema.Compile(name, src)
	if err == nil {
		// The CEL of caveats is type-checked as writing the schema would.
		if errs := caveats.CheckProgram(prog, src); len(errs) > 0 {
			diags, err = append(diags, errs...), errs
			slices.SortStableFunc(diags, func(a, b schema.Diagnostic) int {
				return cmp.Or(a.Pos.Line-b.Pos.Line, a.Pos.Column-b.Pos.Column)
			})
		}
	}
	r := schemaReport{File: name, Valid: err == nil, Diagnostics: diags, Strict: strict}
	if prog != nil {
		r.Definitions, r.Caveats = len(prog.Definitions()), len(prog.Caveats())
	}
	if strict && schemaCount(diags, schema.Warning) > 0 {
		r.Valid = false
	}
	return r
}

// schemaCount counts the diagnostics of severity sev.
func schemaCount(diags []schema.Diagnostic, sev schema.Severity) int {
	n := 0
	for _, d := range diags {
		if d.Severity == sev {
			n++
		}
	}
	return n
}

func schemaAnyInvalid(reports []schemaReport) bool {
	for _, r := range reports {
		if !r.Valid {
			return true
		}
	}
	return false
}

// schemaDiagText is how a diagnostic is shown: FILE:LINE:COL: message, and
// FILE:LINE:COL: warning: message unless --strict made the warning an error.
func schemaDiagText(d schema.Diagnostic, strict bool) string {
	if strict && d.Severity == schema.Warning {
		d.Severity = schema.Error
	}
	return d.String()
}

// writeSchemaReportsText prints the diagnostics on errw and, per file, a
// summary: on out for a valid file, on errw for an invalid one.
func writeSchemaReportsText(out, errw io.Writer, reports []schemaReport) error {
	for _, r := range reports {
		for _, d := range r.Diagnostics {
			if _, err := fmt.Fprintln(errw, schemaDiagText(d, r.Strict)); err != nil {
				return err
			}
		}
		errs, warns := schemaCount(r.Diagnostics, schema.Error), schemaCount(r.Diagnostics, schema.Warning)
		if r.Valid {
			parts := []string{schemaPlural(r.Definitions, "definition"), schemaPlural(r.Caveats, "caveat")}
			if warns > 0 {
				parts = append(parts, schemaPlural(warns, "warning"))
			}
			if _, err := fmt.Fprintf(out, "%s: valid (%s)\n", r.File, strings.Join(parts, ", ")); err != nil {
				return err
			}
			continue
		}
		if r.Strict {
			errs, warns = errs+warns, 0
		}
		parts := []string{schemaPlural(errs, "error")}
		if warns > 0 {
			parts = append(parts, schemaPlural(warns, "warning"))
		}
		if _, err := fmt.Fprintf(errw, "%s: invalid (%s)\n", r.File, strings.Join(parts, ", ")); err != nil {
			return err
		}
	}
	return nil
}

type schemaReportJSON struct {
	File        string                 `json:"file"`
	Valid       bool                   `json:"valid"`
	Definitions int                    `json:"definitions"`
	Caveats     int                    `json:"caveats"`
	Diagnostics []schemaDiagnosticJSON `json:"diagnostics"`
}

type schemaDiagnosticJSON struct {
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"` // "error" or "warning"
	Message  string `json:"message"`
}

func writeSchemaReportsJSON(out io.Writer, reports []schemaReport) error {
	doc := struct {
		Valid bool               `json:"valid"`
		Files []schemaReportJSON `json:"files"`
	}{Valid: !schemaAnyInvalid(reports), Files: []schemaReportJSON{}}
	for _, r := range reports {
		j := schemaReportJSON{File: r.File, Valid: r.Valid, Definitions: r.Definitions, Caveats: r.Caveats, Diagnostics: []schemaDiagnosticJSON{}}
		for _, d := range r.Diagnostics {
			sev := d.Severity
			if r.Strict {
				sev = schema.Error
			}
			j.Diagnostics = append(j.Diagnostics, schemaDiagnosticJSON{Line: d.Pos.Line, Column: d.Pos.Column, Severity: sev.String(), Message: d.Msg})
		}
		doc.Files = append(doc.Files, j)
	}
	return writeJSON(out, doc)
}

func schemaPlural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// schemaStdinName names the standard input in messages.
const schemaStdinName = "<stdin>"

// readSchemaInput reads the file path, or the standard input for "-", and
// returns its content and the name to show in messages.
func readSchemaInput(stdin io.Reader, path string) ([]byte, string, error) {
	if path == "-" {
		src, err := io.ReadAll(stdin)
		if err != nil {
			return nil, schemaStdinName, fmt.Errorf("reading the standard input: %w", err)
		}
		return src, schemaStdinName, nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, path, err
	}
	return src, path, nil
}

// schemaStdinOnce refuses a command line naming the standard input twice.
func schemaStdinOnce(args []string) error {
	n := 0
	for _, a := range args {
		if a == "-" {
			n++
		}
	}
	if n > 1 {
		return usagef("the standard input (-) can be read only once")
	}
	return nil
}

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/schema"
)

func init() { subcommands = append(subcommands, newValidateCmd) }

func newValidateCmd() *cobra.Command {
	var skipUnsupported bool
	c := &cobra.Command{
		Use:   "validate FILE.yaml|FILE.zed...",
		Short: "Run validation files (zed validate format) in an in-memory store",
		Long: `Run validation files in the zed validate format: a schema (schema, or
schemaFile beside the YAML file), relationships, assertions (assertTrue,
assertFalse, assertCaveated, each optionally ending in ` + "` with {json}`" + `) and
expected relations (validation). Each file is loaded into a fresh in-memory
store, independent of --data-dir. A schema file (.zed), as zed validate
accepts, is checked as reach schema validate checks it: it passes when the
schema is valid, and is invalid (its errors printed) when not.

A lookup-expectations file (a YAML mapping with matrix: and lookupResources:,
as in the conformance corpus's X.lookups.yaml) is run over the schema and
relationships of the matrix file it names: every LookupResources result set,
errored lookup and check, and conditional check must match.

Each failing assertion is printed with its explanation, then a summary line
per file and a total. Caveats and relationship expiration are evaluated. A file that needs a
feature reach does not evaluate is reported unsupported; it counts as a
failure unless --skip-unsupported is given.

Exit status: 0 when every file holds (unsupported files skipped with
--skip-unsupported), 1 when an assertion or expected relation fails (or a
file is unsupported without --skip-unsupported), 3 when a file cannot be
loaded (unreadable, malformed, a schema error, a relationship or assertion
that does not fit the schema).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := validation.DefaultOptions()
			var results []*validation.Result
			for _, path := range args {
				if isSchemaFile(path) {
					results = append(results, validateSchemaFile(path))
					continue
				}
				r, err := validation.RunPath(cmd.Context(), path, opts)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				results = append(results, r)
			}
			sum := validateSummarize(results, skipUnsupported)
			out := cmd.OutOrStdout()
			var err error
			if global.output == "json" {
				err = writeValidateJSON(out, results, sum)
			} else {
				err = writeValidateText(out, cmd.ErrOrStderr(), results, sum, skipUnsupported)
			}
			if err != nil {
				return err
			}
			switch {
			case sum.Invalid > 0:
				return exitWith(exitError3, "")
			case sum.Failed > 0 || (sum.Unsupported > 0 && !skipUnsupported):
				return exitWith(exitNo, "")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&skipUnsupported, "skip-unsupported", false, "skip files that need a feature reach does not evaluate instead of failing")
	return c
}

// kindSchema is the Kind of the Result of a bare schema file.
const kindSchema = "schema"

// isSchemaFile reports whether path names a schema file (.zed) rather
// than a validation file.
func isSchemaFile(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".zed")
}

// validateSchemaFile checks a bare schema file as zed validate does: it
// compiles (caveat expressions type-checked too) or it is invalid.
func validateSchemaFile(path string) *validation.Result {
	r := &validation.Result{Path: path, Kind: kindSchema, Status: validation.Passed}
	src, err := os.ReadFile(path)
	if err != nil {
		r.Status, r.Error = validation.Invalid, err.Error()
		return r
	}
	rep := checkSchema(path, src, false)
	var errs []string
	for _, d := range rep.Diagnostics {
		if d.Severity == schema.Warning {
			r.Warnings = append(r.Warnings, d.String())
		} else {
			errs = append(errs, d.String())
		}
	}
	if !rep.Valid {
		r.Status, r.Error = validation.Invalid, strings.Join(errs, "\n")
	}
	return r
}

// validateSummary counts files by status, and assertions.
type validateSummary struct {
	Files            int  `json:"files"`
	Passed           int  `json:"passed"`
	Failed           int  `json:"failed"`
	Unsupported      int  `json:"unsupported"`
	Invalid          int  `json:"invalid"`
	Assertions       int  `json:"assertions"`
	AssertionsFailed int  `json:"assertions_failed"`
	OK               bool `json:"ok"`
}

func validateSummarize(results []*validation.Result, skipUnsupported bool) validateSummary {
	s := validateSummary{Files: len(results)}
	for _, r := range results {
		switch r.Status {
		case validation.Passed:
			s.Passed++
		case validation.Failed:
			s.Failed++
		case validation.Unsupported:
			s.Unsupported++
		case validation.Invalid:
			s.Invalid++
		}
		p, f := r.Counts()
		s.Assertions += p + f
		s.AssertionsFailed += f
	}
	s.OK = s.Failed == 0 && s.Invalid == 0 && (skipUnsupported || s.Unsupported == 0)
	return s
}

func writeValidateText(out, errw io.Writer, results []*validation.Result, sum validateSummary, skipUnsupported bool) error {
	var b strings.Builder
	for _, r := range results {
		for _, w := range r.Warnings {
			fmt.Fprintln(errw, w)
		}
		for _, a := range r.Failures() {
			fmt.Fprintf(&b, "%s:%d: %s %s: got %s", r.Path, a.Line, a.Kind, a.Text, a.Got)
			if a.Error != "" {
				fmt.Fprintf(&b, ": %s", a.Error)
			}
			b.WriteByte('\n')
			if a.Explanation != "" {
				b.WriteString(validateIndent(a.Explanation, "    "))
			}
		}
		for _, v := range r.Validation {
			fmt.Fprintf(&b, "%s:%d: validation %s: %s\n", r.Path, v.Line, v.Key, v.Message)
		}
		passed, failed := r.Counts()
		switch r.Status {
		case validation.Passed:
			if r.Kind == kindSchema {
				fmt.Fprintf(&b, "%s: passed (a valid schema; no relationships or assertions)\n", r.Path)
				break
			}
			fmt.Fprintf(&b, "%s: passed (%s%s)\n", r.Path, validatePlural(passed, validateNoun(r)), validateRelCount(r))
		case validation.Failed:
			fmt.Fprintf(&b, "%s: FAILED (%d of %s failed", r.Path, failed, validatePlural(passed+failed, validateNoun(r)))
			if len(r.Validation) > 0 {
				fmt.Fprintf(&b, ", %s", validatePlural(len(r.Validation), "expected-relation difference"))
			}
			b.WriteString(")\n")
		case validation.Unsupported:
			note := "skipped"
			if !skipUnsupported {
				note = "not run: a failure without --skip-unsupported"
			}
			fmt.Fprintf(&b, "%s: unsupported (%s): needs %s\n", r.Path, note, strings.Join(r.Unsupported, ", "))
		case validation.Invalid:
			if r.Kind == kindSchema { // FILE:LINE:COL: message, one a line
				b.WriteString(r.Error + "\n")
				fmt.Fprintf(&b, "%s: INVALID (not a valid schema)\n", r.Path)
				break
			}
			b.WriteString(validateIndentRest(r.Error))
			fmt.Fprintf(&b, "%s: INVALID (cannot be loaded)\n", r.Path)
		}
	}
	fmt.Fprintf(&b, "%s: %d passed, %d failed, %d unsupported, %d invalid; %s and expectations, %d failed\n",
		validatePlural(sum.Files, "file"), sum.Passed, sum.Failed, sum.Unsupported, sum.Invalid, validatePlural(sum.Assertions, "assertion"), sum.AssertionsFailed)
	_, err := io.WriteString(out, b.String())
	return err
}

// validateNoun is what a file's checks are called: assertions, or the
// expectations of a lookups file.
func validateNoun(r *validation.Result) string {
	if r.Kind == validation.KindLookups {
		return "expectation"
	}
	return "assertion"
}

func validateRelCount(r *validation.Result) string {
	if r.ExpectedRelations == 0 {
		return ""
	}
	return ", " + validatePlural(r.ExpectedRelations, "expected relation")
}

func validatePlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// validateIndentRest ends s with a newline and indents its lines after the first.
func validateIndentRest(s string) string {
	first, rest, found := strings.Cut(strings.TrimRight(s, "\n"), "\n")
	if !found {
		return first + "\n"
	}
	return first + "\n" + validateIndent(rest, "    ")
}

// validateIndent prefixes every line of s and ends it with a newline.
func validateIndent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// validateFileJSON is one file in `reach validate -o json`: counts, and the
// failures only (a matrix file has thousands of passing assertions).
type validateFileJSON struct {
	File               string                         `json:"file"`
	Kind               string                         `json:"kind"`
	Status             validation.Status              `json:"status"`
	Unsupported        []string                       `json:"unsupported,omitempty"`
	Error              string                         `json:"error,omitempty"`
	Warnings           []string                       `json:"warnings,omitempty"`
	Relationships      int                            `json:"relationships"`
	Assertions         int                            `json:"assertions"`
	AssertionsFailed   int                            `json:"assertions_failed"`
	ExpectedRelations  int                            `json:"expected_relations"`
	Failures           []validation.AssertionResult   `json:"failures,omitempty"`
	ValidationFailures []validation.ValidationFailure `json:"validation_failures,omitempty"`
}

func writeValidateJSON(out io.Writer, results []*validation.Result, sum validateSummary) error {
	doc := struct {
		Files   []validateFileJSON `json:"files"`
		Summary validateSummary    `json:"summary"`
	}{Files: []validateFileJSON{}, Summary: sum}
	for _, r := range results {
		p, f := r.Counts()
		doc.Files = append(doc.Files, validateFileJSON{
			File: r.Path, Kind: r.Kind, Status: r.Status, Unsupported: r.Unsupported, Error: r.Error, Warnings: r.Warnings,
			Relationships: r.Relationships, Assertions: p + f, AssertionsFailed: f, ExpectedRelations: r.ExpectedRelations,
			Failures: r.Failures(), ValidationFailures: r.Validation,
		})
	}
	return writeJSON(out, doc)
}

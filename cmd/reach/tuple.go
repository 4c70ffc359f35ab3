package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/reach-authz/reach/tuples"
)

func init() { subcommands = append(subcommands, newTupleCmd) }

// relationshipHelp describes the relationship syntax for the help texts.
const relationshipHelp = `A relationship is written as SpiceDB writes it:

  RESOURCE_TYPE:ID#RELATION@SUBJECT_TYPE:SUBJECT_ID[#SUBJECT_RELATION][CAVEAT][EXPIRATION]

for example document:q3#viewer@user:ana, document:q3#viewer@group:eng#member,
document:q3#viewer@user:* (every user), doc:1#viewer@user:ana[only_weekdays:{"tz":"UTC"}]
(with a caveat and its context) or doc:1#viewer@user:ana[expiration:2027-01-01T00:00:00Z].`

// filterHelp describes the filter syntax for the help texts.
const filterHelp = `A FILTER selects relationships. It is a relationship with parts left out:

  RESOURCE_TYPE[:ID][#RELATION][@SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION]]
  @SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION]

A part left out matches anything. An ID ending in * is a prefix (document:q*);
a SUBJECT_ID of * is the wildcard subject itself (@user:*); a SUBJECT_RELATION
of ... selects only subjects without a relation. Examples:

  document                     every relationship of every document
  document:q3#viewer           the viewers of document q3
  document:q*#viewer@user:ana  ana as viewer of the documents whose id starts with q
  document#viewer@group        the groups (any relation) that view documents
  @group:eng#member            everything granted to the members of group eng
  document@user:*              the documents shared with every user`

// writeExitHelp is the exit status of the commands that write.
const writeExitHelp = `Exit status: 0 written; 1 refused, with nothing written: a relationship the
schema does not allow (or no schema yet), a CREATE of one that exists, a
failed precondition, a malformed line on the standard input; 2 usage error
(a malformed argument or filter); 3 the store or a file could not be used.`

func newTupleCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "tuple",
		Short: "Write, delete, read, import and export relationships in the store",
		Long: `Write, delete, read, import and export the relationships (tuples) of the
embedded store in --data-dir. Every write is one atomic batch at a new
revision and prints that revision's consistency token ("revision: TOKEN");
reads see one revision.

` + relationshipHelp + `

` + filterHelp,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newTupleWriteCmd(), newTupleDeleteCmd(), newTupleReadCmd(), newTupleImportCmd(), newTupleExportCmd())
	return c
}

// preconditionFlags are the --must-match and --must-not-match flags.
type preconditionFlags struct{ must, mustNot []string }

func (p *preconditionFlags) add(c *cobra.Command) {
	c.Flags().StringArrayVar(&p.must, "must-match", nil, "write only if some relationship matches this FILTER (repeatable)")
	c.Flags().StringArrayVar(&p.mustNot, "must-not-match", nil, "write only if no relationship matches this FILTER (repeatable)")
}

func (p *preconditionFlags) parse() ([]tuples.Precondition, error) {
	var out []tuples.Precondition
	for i, list := range [][]string{p.must, p.mustNot} {
		for _, s := range list {
			f, err := tuples.ParseFilter(s)
			if err != nil {
				return nil, usagef("%v", err)
			}
			out = append(out, tuples.Precondition{MustMatch: i == 0, Filter: f})
		}
	}
	return out, nil
}

func newTupleWriteCmd() *cobra.Command {
	var create bool
	var pre preconditionFlags
	c := &cobra.Command{
		Use:   "write REL... | -",
		Short: "Write relationships (one atomic batch)",
		Long: `Write the relationships given as arguments, or one per line on the standard
input with -, in one atomic batch: all or none. By default each is a TOUCH
(written whether or not it exists; its caveat and expiration replaced); with
--create each is a CREATE, and the batch fails if one exists. Each is checked
against the schema in force. On the standard input blank lines and lines
starting with # or // are skipped. At most 1,000 relationships per write; use
reach tuple import for more.

Prints "revision: TOKEN" (with --output json: {"revision": TOKEN, "written": N}).

` + relationshipHelp + `

` + writeExitHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := tuples.Touch
			if create {
				op = tuples.Create
			}
			return runTupleUpdate(cmd, args, op, pre)
		},
	}
	c.Flags().BoolVar(&create, "create", false, "fail if a relationship already exists (CREATE instead of TOUCH)")
	pre.add(c)
	return c
}

// runTupleUpdate writes (or deletes) the relationships of args as one batch.
func runTupleUpdate(cmd *cobra.Command, args []string, op tuples.UpdateOp, pre preconditionFlags) error {
	preconditions, err := pre.parse()
	if err != nil {
		return err
	}
	rels, err := relationshipArgs(cmd.InOrStdin(), args)
	if err != nil {
		if op == tuples.Delete {
			return deleteFilterHint(args, err)
		}
		return err
	}
	s, err := openStore(cmd.Context(), writeAccess)
	if err != nil {
		return exitWith(exitError3, "reach: %v", err)
	}
	defer s.Close()
	if len(rels) > s.MaxBatch() {
		return usagef("%d relationships in one write; the limit is %d (use reach tuple import for more)", len(rels), s.MaxBatch())
	}
	updates := make([]tuples.Update, len(rels))
	for i, r := range rels {
		updates[i] = tuples.Update{Op: op, Relationship: r}
	}
	rev, err := s.Write(cmd.Context(), updates, preconditions...)
	if err != nil {
		return writeError(storeError(cmd.Context(), s, err))
	}
	if global.output == "json" {
		key := "written"
		if op == tuples.Delete {
			key = "deleted"
		}
		return printStoreJSON(cmd, map[string]any{"revision": rev.Token(), key: len(rels)})
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "revision: %s\n", rev.Token())
	return err
}

// writeError maps the errors of a write to exit statuses.
func writeError(err error) error {
	for _, refused := range []error{
		tuples.ErrInvalidRelationship, tuples.ErrNoSchema, tuples.ErrAlreadyExists,
		tuples.ErrPreconditionFailed, tuples.ErrDuplicateUpdate, tuples.ErrBatchTooLarge,
	} {
		if errors.Is(err, refused) {
			return exitWith(exitNo, "reach: %v; nothing was written", err)
		}
	}
	var le *tuples.LineError
	if errors.As(err, &le) {
		return exitWith(exitNo, "reach: %v; nothing was written", err)
	}
	return exitWith(exitError3, "reach: %v", err)
}

// relationshipArgs parses the relationships given as arguments, or read
// from stdin when the only argument is "-".
func relationshipArgs(stdin io.Reader, args []string) ([]tuples.Relationship, error) {
	if len(args) == 1 && args[0] == "-" {
		return readRelationshipLines(stdin, "<stdin>")
	}
	rels := make([]tuples.Relationship, 0, len(args))
	for i, a := range args {
		if a == "-" {
			return nil, usagef("- (the standard input) must be the only argument")
		}
		r, err := tuples.Parse(a)
		if err != nil {
			return nil, usagef("argument %d: %v", i+1, err)
		}
		rels = append(rels, r)
	}
	return rels, nil
}

// deleteFilterHint adds to err, the refusal of an argument of tuple
// delete, the advice to use --filter when the argument is a filter
// (document:q*, document#viewer): a relationship names every part.
func deleteFilterHint(args []string, err error) error {
	for _, a := range args {
		if _, perr := tuples.Parse(a); perr == nil {
			continue
		}
		if _, ferr := tuples.ParseFilter(a); ferr == nil {
			return usagef("%v\n%q is a filter, not a relationship: to delete the relationships it selects, use --filter '%s'", err, a, a)
		}
		break
	}
	return err
}

// readRelationshipLines reads one relationship per line, skipping blank
// lines and comments (# or //). A malformed line is reported as NAME:LINE.
func readRelationshipLines(r io.Reader, name string) ([]tuples.Relationship, error) {
	var rels []tuples.Relationship
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		rel, err := tuples.Parse(string(line))
		if err != nil {
			return nil, exitWith(exitNo, "%s:%d: %v; nothing was written", name, n, err)
		}
		rels = append(rels, rel)
	}
	if err := sc.Err(); err != nil {
		return nil, exitWith(exitError3, "reach: reading %s: %v", name, err)
	}
	if len(rels) == 0 {
		return nil, usagef("no relationships on %s", name)
	}
	return rels, nil
}

func newTupleDeleteCmd() *cobra.Command {
	var filter string
	var limit int
	var pre preconditionFlags
	c := &cobra.Command{
		Use:   "delete REL... | - | --filter FILTER [--limit N]",
		Short: "Delete relationships, given one by one or by a filter",
		Long: `Delete the relationships given as arguments (or one per line on the standard
input with -) in one atomic batch; deleting one that does not exist is not an
error. Prints "revision: TOKEN".

With --filter, delete every relationship the FILTER selects instead, and
print how many ("deleted: N") and the revision. With --limit N at most N are
deleted, in one batch; if more match, the output says so ("complete: false")
and running the command again deletes the next ones. Without a limit, up to
20,000 go in one atomic batch and more in successive batches.
With --output json: {"revision": TOKEN, "deleted": N, "complete": BOOL}.

` + filterHelp + `

` + writeExitHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			if filter == "" {
				if len(args) == 0 {
					return usagef("give the relationships to delete, - to read them from the standard input, or --filter FILTER")
				}
				if limit != 0 {
					return usagef("--limit goes with --filter")
				}
				return runTupleUpdate(cmd, args, tuples.Delete, pre)
			}
			if len(args) > 0 {
				return usagef("give either relationships or --filter, not both")
			}
			if limit < 0 {
				return usagef("--limit must be positive")
			}
			f, err := tuples.ParseFilter(filter)
			if err != nil {
				return usagef("--filter: %v", err)
			}
			preconditions, err := pre.parse()
			if err != nil {
				return err
			}
			s, err := openStore(cmd.Context(), writeAccess)
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			defer s.Close()
			if err := filterError(headSchema(cmd.Context(), s), f); err != nil {
				return err
			}
			res, err := s.DeleteWhere(cmd.Context(), f, limit, preconditions...)
			if err != nil {
				if res.Deleted > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "reach: %d relationships were deleted (up to revision %s) before the error\n", res.Deleted, res.Revision.Token())
				}
				return writeError(storeError(cmd.Context(), s, err))
			}
			if global.output == "json" {
				return printStoreJSON(cmd, map[string]any{"revision": res.Revision.Token(), "deleted": res.Deleted, "complete": res.Complete})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "deleted: %d\n", res.Deleted)
			if !res.Complete {
				fmt.Fprintln(out, "complete: false (more relationships match; run the command again to delete them)")
			}
			_, err = fmt.Fprintf(out, "revision: %s\n", res.Revision.Token())
			return err
		},
	}
	c.Flags().StringVar(&filter, "filter", "", "delete the relationships this FILTER selects")
	c.Flags().IntVar(&limit, "limit", 0, "with --filter, delete at most N relationships (0: all)")
	pre.add(c)
	return c
}

// revisionFlag parses a --revision token (0 when empty: the head).
func revisionFlag(token string) (tuples.Revision, error) {
	if token == "" {
		return 0, nil
	}
	rev, err := tuples.ParseToken(token)
	if err != nil {
		return 0, usagef("--revision: %v", err)
	}
	return rev, nil
}

// optionalFilter parses the optional FILTER argument (none: everything).
func optionalFilter(args []string) (tuples.Filter, error) {
	if len(args) == 0 {
		return tuples.Filter{}, nil
	}
	f, err := tuples.ParseFilter(args[0])
	if err != nil {
		return f, usagef("%v", err)
	}
	return f, nil
}

// relationshipJSON is a relationship in the JSON output.
type relationshipJSON struct {
	Relationship    string         `json:"relationship"`
	ResourceType    string         `json:"resource_type"`
	ResourceID      string         `json:"resource_id"`
	Relation        string         `json:"relation"`
	SubjectType     string         `json:"subject_type"`
	SubjectID       string         `json:"subject_id"`
	SubjectRelation string         `json:"subject_relation,omitempty"`
	Caveat          string         `json:"caveat,omitempty"`
	CaveatContext   map[string]any `json:"caveat_context,omitempty"`
	Expiration      *time.Time     `json:"expiration,omitempty"`
}

func toRelationshipJSON(r tuples.Relationship) relationshipJSON {
	j := relationshipJSON{
		Relationship: r.String(), ResourceType: r.ResourceType, ResourceID: r.ResourceID, Relation: r.Relation,
		SubjectType: r.SubjectType, SubjectID: r.SubjectID, SubjectRelation: r.SubjectRelation, Expiration: r.Expiration,
	}
	if r.Caveat != nil {
		j.Caveat, j.CaveatContext = r.Caveat.Name, r.Caveat.Context
	}
	return j
}

func newTupleReadCmd() *cobra.Command {
	var limit int
	var cursor, revision string
	c := &cobra.Command{
		Use:   "read [FILTER]",
		Short: "Print the relationships a filter selects (all without one)",
		Long: `Print the live relationships that FILTER selects (every one without a
FILTER), one per line, in key order, at one revision: the head, or the one
--revision names. Expired relationships are not shown.

With --limit N at most N are printed; if more remain, the standard error
says "more: --cursor CURSOR", and running the same command with that
--cursor prints the next page, at the same revision as the first.
With --output json: {"revision": TOKEN, "relationships": [...], "cursor": CURSOR}.

` + filterHelp + `

A filter naming a type or relation the schema lacks is refused (status 2),
with the name it resembles, rather than read as "nothing matches".

Exit status: 0 printed (even none), 2 usage error (a bad filter, cursor or
token), 3 the store could not be read (or the revision is too old, or
--data-dir does not exist: a read command does not create it).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := optionalFilter(args)
			if err != nil {
				return err
			}
			rev, err := revisionFlag(revision)
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef("--limit must be positive")
			}
			s, err := openStore(cmd.Context(), readAccess)
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			defer s.Close()
			if rev == 0 && cursor == "" && !f.IsEmpty() { // (the schema of an older revision may differ)
				if err := filterError(headSchema(cmd.Context(), s), f); err != nil {
					return err
				}
			}
			res, err := s.ReadRelationships(cmd.Context(), f, tuples.ReadOptions{Revision: rev, Limit: limit, Cursor: cursor})
			switch {
			case errors.Is(err, tuples.ErrBadCursor):
				return usagef("--cursor: %v", err)
			case err != nil:
				return exitWith(exitError3, "reach: %v", err)
			}
			if global.output == "json" {
				rels := make([]relationshipJSON, len(res.Relationships))
				for i, r := range res.Relationships {
					rels[i] = toRelationshipJSON(r)
				}
				return printStoreJSON(cmd, struct {
					Revision      string             `json:"revision"`
					Relationships []relationshipJSON `json:"relationships"`
					Cursor        string             `json:"cursor,omitempty"`
				}{res.Revision.Token(), rels, res.Cursor})
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			for _, r := range res.Relationships {
				w.WriteString(r.String())
				w.WriteByte('\n')
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if res.Cursor != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s\n", res.Cursor)
			}
			return nil
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "print at most N relationships (0: all)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue a read limited by --limit")
	c.Flags().StringVar(&revision, "revision", "", "read at the revision of this consistency TOKEN (default: the head)")
	return c
}

func newTupleExportCmd() *cobra.Command {
	var revision string
	c := &cobra.Command{
		Use:   "export [FILTER]",
		Short: "Print relationships in the import format",
		Long: `Print every live relationship (or those FILTER selects) at one revision, one
per line after a comment line naming the revision: the format reach tuple
import reads. With --output json: {"revision": TOKEN, "relationships": [...]}.

` + filterHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := optionalFilter(args)
			if err != nil {
				return err
			}
			rev, err := revisionFlag(revision)
			if err != nil {
				return err
			}
			s, err := openStore(cmd.Context(), readAccess)
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			defer s.Close()
			if rev == 0 && !f.IsEmpty() { // (the schema of an older revision may differ)
				if err := filterError(headSchema(cmd.Context(), s), f); err != nil {
					return err
				}
			}
			if global.output == "json" {
				rels := []relationshipJSON{}
				rev, err := s.ForEach(cmd.Context(), rev, f, func(r tuples.Relationship) (bool, error) {
					rels = append(rels, toRelationshipJSON(r))
					return true, nil
				})
				if err != nil {
					return exitWith(exitError3, "reach: %v", err)
				}
				return printStoreJSON(cmd, struct {
					Revision      string             `json:"revision"`
					Relationships []relationshipJSON `json:"relationships"`
				}{rev.Token(), rels})
			}
			if _, _, err := s.Export(cmd.Context(), cmd.OutOrStdout(), tuples.ExportOptions{Revision: rev, Filter: f, Header: true}); err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&revision, "revision", "", "export the revision of this consistency TOKEN (default: the head)")
	return c
}

func newTupleImportCmd() *cobra.Command {
	var skipInvalid bool
	var batchSize int
	var format, progress string
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Import relationships from a file, in large atomic batches",
		Long: `Import the relationships of FILE (- for the standard input) as TOUCHes
(existing ones are replaced), in batches of --batch-size relationships, each
one atomic at its own revision. FILE holds one relationship per line (blank
lines and lines starting with # or // are skipped: what reach tuple export
prints), or is a validation YAML file (.yaml, .yml) whose relationships block
is read; --format forces either.

A line that is malformed or that the schema does not allow stops the import:
it is reported as FILE:LINE: message, nothing of its batch is written, and
the batches before it stay written (the count is printed). With
--skip-invalid such lines are skipped and counted instead.

On a terminal the standard error shows a progress bar; otherwise a line of
counts every second (--progress chooses). At the end the standard output
gets the counts and "revision: TOKEN" (with --output json: one JSON object).

` + relationshipHelp + `

Exit status: 0 imported; 1 stopped at a bad line; 2 usage error; 3 the file
or the store could not be used.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := tuples.ImportOptions{Name: args[0], SkipInvalid: skipInvalid, BatchSize: batchSize}
			switch format {
			case "auto":
			case "lines":
				opts.Format = tuples.FormatLines
			case "yaml":
				opts.Format = tuples.FormatYAML
			default:
				return usagef("--format must be auto, lines or yaml, not %q", format)
			}
			if batchSize < 0 {
				return usagef("--batch-size must be positive")
			}
			var in io.Reader
			var size int64
			errw := cmd.ErrOrStderr()
			if args[0] == "-" {
				in, opts.Name = cmd.InOrStdin(), "<stdin>"
			} else {
				f, err := os.Open(args[0])
				if err != nil {
					return exitWith(exitError3, "reach: %v", err)
				}
				defer f.Close()
				if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
					size = info.Size()
				}
				in = f
			}
			mode, err := progressMode(progress, errw)
			if err != nil {
				return err
			}
			s, err := openStore(cmd.Context(), writeAccess)
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			defer s.Close()
			p := &importProgress{w: errw, mode: mode, total: size, start: time.Now(), now: time.Now}
			opts.Progress = p.update
			res, err := s.Import(cmd.Context(), in, opts)
			p.finish()
			err = storeError(cmd.Context(), s, err)
			for i, e := range res.Invalid {
				res.Invalid[i] = storeError(cmd.Context(), s, e)
			}
			if err != nil {
				var le *tuples.LineError
				isLine := errors.As(err, &le)
				msg := err.Error() // FILE:LINE: message
				if !isLine {
					msg = "reach: " + msg
				}
				if res.Imported > 0 {
					msg += fmt.Sprintf("\nreach: %s in %s were imported before (up to revision %s); the batch holding the error was not written",
						plural(res.Imported, "relationship"), plural(int64(res.Batches), "batch"), res.Revision.Token())
				}
				if isLine || errors.Is(err, tuples.ErrNoSchema) {
					return exitWith(exitNo, "%s", msg)
				}
				return exitWith(exitError3, "%s", msg)
			}
			rev := res.Revision
			if rev == 0 {
				if rev, err = s.HeadRevision(cmd.Context()); err != nil {
					return exitWith(exitError3, "reach: %v", err)
				}
			}
			return printImportResult(cmd, res, rev, time.Since(p.start), skipInvalid)
		},
	}
	c.Flags().BoolVar(&skipInvalid, "skip-invalid", false, "skip and count malformed or refused lines instead of stopping")
	c.Flags().IntVar(&batchSize, "batch-size", tuples.DefaultImportBatch, "relationships per atomic batch (at most 40,000)")
	c.Flags().StringVar(&format, "format", "auto", "input format: auto (by the file name), lines or yaml")
	c.Flags().StringVar(&progress, "progress", "auto", "progress display: auto (a bar on a terminal, counts otherwise), bar, counts or none")
	return c
}

func printImportResult(cmd *cobra.Command, res tuples.ImportResult, rev tuples.Revision, took time.Duration, skipInvalid bool) error {
	var invalid []string
	for _, e := range res.Invalid {
		invalid = append(invalid, e.Error())
	}
	rate := float64(res.Imported) / max(took.Seconds(), 1e-9)
	if global.output == "json" {
		return printStoreJSON(cmd, struct {
			Imported int64    `json:"imported"`
			Batches  int      `json:"batches"`
			Lines    int64    `json:"lines"`
			Skipped  int64    `json:"skipped"`
			Invalid  []string `json:"invalid"`
			Seconds  float64  `json:"seconds"`
			Revision string   `json:"revision"`
		}{res.Imported, res.Batches, res.Lines, res.Skipped, emptyIfNil(invalid), took.Seconds(), rev.Token()})
	}
	errw := cmd.ErrOrStderr()
	for _, e := range invalid {
		fmt.Fprintf(errw, "skipped %s\n", e)
	}
	if more := res.Skipped - int64(len(invalid)); more > 0 {
		fmt.Fprintf(errw, "skipped %s more\n", plural(more, "invalid line"))
	}
	out := cmd.OutOrStdout()
	if res.Batches > 1 {
		fmt.Fprintf(out, "imported: %s in %s (%s, %.1fs, %s/s)\n", plural(res.Imported, "relationship"),
			plural(int64(res.Batches), "batch"), plural(res.Lines, "line"), took.Seconds(), thousands(int64(rate)))
	} else { // one batch: no batches to count, no rate worth the name
		fmt.Fprintf(out, "imported: %s (%s)\n", plural(res.Imported, "relationship"), plural(res.Lines, "line"))
	}
	if skipInvalid {
		fmt.Fprintf(out, "skipped: %s\n", plural(res.Skipped, "invalid line"))
	}
	_, err := fmt.Fprintf(out, "revision: %s\n", rev.Token())
	return err
}

// progressMode resolves --progress: "auto" is a bar when w is a terminal.
func progressMode(flag string, w io.Writer) (string, error) {
	switch flag {
	case "bar", "counts", "none":
		return flag, nil
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return "bar", nil
		}
		return "counts", nil
	}
	return "", usagef("--progress must be auto, bar, counts or none, not %q", flag)
}

// importProgress draws the progress of an import on w: a bar redrawn in
// place, or a line of counts at most once a second. Nothing is drawn in the
// first second, so that a small import prints its summary alone.
type importProgress struct {
	w     io.Writer
	mode  string // "bar", "counts" or "none"
	total int64  // input size in bytes; 0 if unknown
	start time.Time
	now   func() time.Time

	last  time.Time
	drawn bool
	width int // of the last bar drawn, to blank it out
}

func (p *importProgress) update(st tuples.ImportStats) {
	now := p.now()
	if !p.drawn && now.Sub(p.start) < time.Second {
		return
	}
	switch p.mode {
	case "counts":
		if p.drawn && now.Sub(p.last) < time.Second {
			return
		}
		fmt.Fprintf(p.w, "imported %s (%s read)\n", plural(st.Imported, "relationship"), plural(st.Lines, "line"))
	case "bar":
		if p.drawn && now.Sub(p.last) < 100*time.Millisecond {
			return
		}
		line := p.bar(st, now)
		pad := max(0, p.width-len(line))
		fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
		p.width = len(line)
	default:
		return
	}
	p.last, p.drawn = now, true
}

// bar renders the progress bar line.
func (p *importProgress) bar(st tuples.ImportStats, now time.Time) string {
	const cells = 30
	secs := max(now.Sub(p.start).Seconds(), 1e-9)
	rate := thousands(int64(float64(st.Imported)/secs)) + "/s"
	if p.total <= 0 {
		return fmt.Sprintf("%s relationships  %s lines  %s", thousands(st.Imported), thousands(st.Lines), rate)
	}
	frac := min(1, float64(st.Bytes)/float64(p.total))
	full := int(frac * cells)
	bar := strings.Repeat("=", full)
	if full < cells {
		bar += ">" + strings.Repeat(" ", cells-full-1)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %s relationships  %s", bar, frac*100, thousands(st.Imported), rate)
}

// finish ends the bar's line.
func (p *importProgress) finish() {
	if p.mode == "bar" && p.drawn {
		fmt.Fprintln(p.w)
	}
}

// plural is n (with thousands separators) and noun, with an s (or es)
// unless n is 1.
func plural(n int64, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "ch"):
		return thousands(n) + " " + noun + "es"
	}
	return thousands(n) + " " + noun + "s"
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

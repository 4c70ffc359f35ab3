package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

func init() {
	schemaSubcommands = append(schemaSubcommands, newSchemaWriteCmd, newSchemaReadCmd)
}

func newSchemaWriteCmd() *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "write FILE [--dry-run]",
		Short: "Write a schema into the store (the schema in force from the next revision)",
		Long: `Compile FILE (a schema in the SpiceDB schema language; - reads the standard
input) and store it in the embedded store in --data-dir as the schema of the
next revision. The store keeps every version, so reads at older revisions see
the schema of their time.

A schema with errors is refused: every error goes to the standard error as
FILE:LINE:COL: message, and the schema in force stays. So is a schema that
would orphan stored relationships (it drops a definition or relation that
still has relationships, or a subject type they still use): the error names
one of them; delete such relationships first. Warnings are printed but do not
refuse the schema.

On success it prints "revision: TOKEN", the consistency token of the write
(with --output json: {"revision": ..., "definitions": N, "caveats": N,
"warnings": [...]}).

With --dry-run nothing is written: it prints what would change, as
reach schema diff --impact does (the structural changes from the schema in
force, and every answer that flips on the stored data), and exits 0 (3 if
FILE does not compile). On a server (--endpoint) it prints the structural
changes only.

Exit status: 0 written, 1 refused, 2 usage error, 3 the file or the store
could not be read or written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dryRun {
				return schemaWriteDryRun(cmd, args[0])
			}
			src, name, err := readSchemaInput(cmd.InOrStdin(), args[0])
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			s, err := openStore(cmd.Context(), writeAccess)
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			defer s.Close()
			rev, diags, err := s.WriteSchema(cmd.Context(), name, src)
			errw := cmd.ErrOrStderr()
			var warnings []string
			for _, d := range diags {
				fmt.Fprintln(errw, d.String())
				if d.Severity == schema.Warning {
					warnings = append(warnings, d.String())
				}
			}
			var list schema.ErrorList
			switch {
			case errors.As(err, &list):
				return exitWith(exitNo, "%s: schema refused (%s); the schema in force is unchanged", name, schemaPlural(len(list), "error"))
			case errors.Is(err, tuples.ErrOrphans):
				return exitWith(exitNo, "reach: %v\n%s: schema refused; the schema in force is unchanged", err, name)
			case err != nil:
				return exitWith(exitError3, "reach: writing the schema: %v", err)
			}
			prog, _, err := s.Schema(cmd.Context())
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			if global.output == "json" {
				return printStoreJSON(cmd, struct {
					Revision    string   `json:"revision"`
					Definitions int      `json:"definitions"`
					Caveats     int      `json:"caveats"`
					Warnings    []string `json:"warnings"`
				}{rev.Token(), len(prog.Definitions()), len(prog.Caveats()), emptyIfNil(warnings)})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "revision: %s\n", rev.Token())
			return err
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "write nothing: print the schema changes and every answer they would flip on the stored data")
	return c
}

func newSchemaReadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "read",
		Short: "Print the schema in force in the store",
		Long: `Print the schema in force in the embedded store in --data-dir, as it was
written. With --output json: {"revision": TOKEN of the write that stored it,
"file": its file name, "schema": its text}.

Exit status: 0 printed, 1 no schema has been written, 3 the store could not
be read (or --data-dir does not exist: a read command does not create it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore(cmd.Context(), readAccess)
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			defer s.Close()
			name, src, rev, err := s.SchemaSource(cmd.Context())
			if err != nil {
				return exitWith(exitError3, "reach: reading the schema: %v", err)
			}
			if rev == 0 {
				return exitWith(exitNo, "reach: %v", errNoSchema())
			}
			if global.output == "json" {
				return printStoreJSON(cmd, struct {
					Revision string `json:"revision"`
					File     string `json:"file"`
					Schema   string `json:"schema"`
				}{rev.Token(), name, string(src)})
			}
			if len(src) > 0 && src[len(src)-1] != '\n' {
				src = append(src[:len(src):len(src)], '\n') // (a server may drop it)
			}
			_, err = cmd.OutOrStdout().Write(src)
			return err
		},
	}
}

// printStoreJSON prints v as indented JSON on the command's standard output.
func printStoreJSON(cmd *cobra.Command, v any) error {
	return writeJSON(cmd.OutOrStdout(), v)
}

// emptyIfNil makes a nil slice an empty one, so that JSON shows [] not null.
func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

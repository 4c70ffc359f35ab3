package main

import "github.com/spf13/cobra"

func init() { subcommands = append(subcommands, newSchemaGroupCmd) }

// schemaSubcommands is filled by the files that define `reach schema ...`
// commands: checking, formatting and drawing schema files, and writing and
// reading the schema in the store.
var schemaSubcommands []func() *cobra.Command

func newSchemaGroupCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "schema",
		Short: "Check, format, draw, write and read schemas (SpiceDB schema language, .zed)",
		Args:  cobra.NoArgs,
	}
	for _, f := range schemaSubcommands {
		c.AddCommand(f())
	}
	return c
}

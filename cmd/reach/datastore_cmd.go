package main

import (
	"github.com/spf13/cobra"
)

func init() {
	subcommands = append(subcommands, newDatastoreCmd)
}

// datastoreSubcommands is filled by the files that define `reach datastore
// ...` commands: the care of the store itself (checking it, migrating it).
var datastoreSubcommands []func() *cobra.Command

func newDatastoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "datastore",
		Short: "Look after the store itself: migrate a postgres datastore",
		Args:  cobra.NoArgs,
	}
	for _, f := range datastoreSubcommands {
		c.AddCommand(f())
	}
	return c
}

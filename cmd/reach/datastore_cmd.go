package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/tuples"
)

func init() {
	subcommands = append(subcommands, newDatastoreCmd)
	datastoreSubcommands = append(datastoreSubcommands, newDatastoreCheckCmd)
}

// datastoreSubcommands is filled by the files that define `reach datastore
// ...` commands: the care of the store itself (checking it, migrating it).
var datastoreSubcommands []func() *cobra.Command

func newDatastoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "datastore",
		Short: "Look after the store itself: check the embedded store for damage, migrate a postgres one",
		Args:  cobra.NoArgs,
	}
	for _, f := range datastoreSubcommands {
		c.AddCommand(f())
	}
	return c
}

func newDatastoreCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the embedded store in --data-dir: checksums, indexes, batches",
		Long: `Verify the embedded store in --data-dir without changing it (it is opened
read-only, so no other process may be writing to it):

  - the MANIFEST is whole and lists exactly the table files there, and every
    table's checksums (its index and every block) verify;
  - the forward and reverse indexes hold the same relationships, with the
    same caveats and expirations;
  - every batch is whole: nothing written above the head revision, and every
    key, value, name, schema version and change record decodes.

Exit status 0 when the store is healthy, 1 with the problems found (on
stderr, or in the JSON report), 3 when the check cannot run (no store there,
or one in use by another process).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dsOpts.kind != "badger" {
				return usagef("datastore check verifies the embedded store in --data-dir; a %s datastore has its own tools", dsOpts.kind)
			}
			if _, err := os.Stat(global.dataDir); err != nil {
				return fmt.Errorf("data directory %s: %w", global.dataDir, err)
			}
			rep, err := tuples.Check(global.dataDir)
			if err != nil {
				return err
			}
			if rep.Problems == nil {
				rep.Problems = []string{}
			}
			if global.output == "json" {
				if err := engineWriteJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printCheckReport(cmd, rep)
			}
			if !rep.Healthy() {
				return exitWith(exitNo, "")
			}
			return nil
		},
	}
}

// printCheckReport prints what the check found: a summary on stdout, the
// problems on stderr.
func printCheckReport(cmd *cobra.Command, rep tuples.Report) {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	summary := fmt.Sprintf("%s (%s) verified", plural(int64(rep.Tables), "table"), sizeText(rep.TableBytes))
	if rep.Head > 0 || rep.Relationships > 0 {
		summary += fmt.Sprintf("; at revision %d: %s, %s, %s, %s", rep.Head,
			plural(int64(rep.Relationships), "relationship"), plural(int64(rep.SchemaVersions), "schema version"),
			plural(int64(rep.ChangeRecords), "change record"), plural(int64(rep.Names), "name"))
	}
	if rep.Healthy() {
		fmt.Fprintf(out, "%s: healthy: %s\n", rep.Dir, summary)
		return
	}
	fmt.Fprintf(out, "%s: %s found: %s\n", rep.Dir, plural(int64(len(rep.Problems)), "problem"), summary)
	for _, p := range rep.Problems {
		fmt.Fprintf(errw, "%s\n", p)
	}
}

// sizeText prints a byte count for people.
func sizeText(n int64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return plural(n, "byte")
}

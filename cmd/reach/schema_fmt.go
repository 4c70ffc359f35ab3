package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/reach-authz/reach/schema"
	"github.com/spf13/cobra"
)

func init() { schemaSubcommands = append(schemaSubcommands, newSchemaFmtCmd) }

func newSchemaFmtCmd() *cobra.Command {
	var write, list bool
	c := &cobra.Command{
		Use:   "fmt [-w | -l] FILE...",
		Short: "Print schema files (.zed) in canonical form, or rewrite them with -w",
		Long: `Print schema files in canonical form: use directives first, one blank line
between definitions, members indented by a tab, one statement per line,
single spaces around operators, parentheses around every operation nested in
one of another kind, every comment kept. Formatting twice changes nothing.
A FILE of - reads the standard input.

-w rewrites each file whose text is not canonical (atomically: the file is
replaced only once its new text is fully written); -l lists those files
instead. A file with a syntax error is not formatted: its errors go to the
standard error as FILE:LINE:COL: message. Errors of meaning (an unknown type,
say) do not stop formatting; "reach schema validate" reports them.

Exit status: 0 when every file was formatted, 1 when one has a syntax error,
2 on a usage error, 3 when a file cannot be read or written.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if write && list {
				return usagef("-w and -l cannot be used together")
			}
			if err := schemaStdinOnce(args); err != nil {
				return err
			}
			for _, a := range args {
				if a == "-" && write {
					return usagef("-w cannot rewrite the standard input")
				}
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			status := exitOK
			fail := func(code int) {
				if code > status {
					status = code
				}
			}
			for _, path := range args {
				src, name, err := readSchemaInput(cmd.InOrStdin(), path)
				if err != nil {
					fmt.Fprintf(errw, "reach: %v\n", err)
					fail(exitError3)
					continue
				}
				f, diags := schema.Parse(name, src)
				if len(diags) > 0 {
					for _, d := range diags {
						fmt.Fprintln(errw, d)
					}
					fmt.Fprintf(errw, "%s: not formatted: %s\n", name, schemaPlural(len(diags), "syntax error"))
					fail(exitNo)
					continue
				}
				formatted := []byte(schema.Format(f))
				changed := !bytes.Equal(formatted, src)
				switch {
				case list:
					if changed {
						fmt.Fprintln(out, name)
					}
				case write:
					if changed {
						if err := writeFileAtomic(path, formatted); err != nil {
							fmt.Fprintf(errw, "reach: %v\n", err)
							fail(exitError3)
						}
					}
				default:
					if _, err := out.Write(formatted); err != nil {
						return err
					}
				}
			}
			if status != exitOK {
				return exitWith(status, "")
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&write, "write", "w", false, "rewrite the files in place instead of printing them")
	c.Flags().BoolVarP(&list, "list", "l", false, "list the files whose formatting differs from the canonical form")
	return c
}

// writeFileAtomic replaces the file path with data, keeping its permission
// bits: the data goes to a temporary file in the same directory, which is
// synced and renamed over path, so that a failure leaves path as it was.
func writeFileAtomic(path string, data []byte) (err error) {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	if err = tmp.Chmod(info.Mode().Perm()); err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rewriting %s: %w", path, err)
	}
	return nil
}

// Command reach is the command-line interface of reach, a relationship-based
// permission engine: it checks and formats schemas, writes and reads
// relationships in an embedded store, answers checks and lookups, validates
// models against their assertions and runs benchmarks.
//
// Exit status, for every command:
//
//	0  success (for check: allowed)
//	1  a negative answer: denied, an invalid schema, a failed assertion
//	2  usage error: bad flags or arguments, an unknown command or
//	   subcommand (with suggestions: a command group never answers a
//	   mistyped subcommand with its help and status 0)
//	3  any other error (store, input file, internal)
//
// A read command (check, lookup, expand, matrix, tuple read and export,
// schema read) never creates the embedded store: a --data-dir that does not
// exist is an error (3) that says how to create one.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args with the given standard streams and
// returns the exit status. Commands write through cmd.OutOrStdout(),
// cmd.ErrOrStderr() and read cmd.InOrStdin(), so tests can capture them.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(root.ErrOrStderr(), ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(root.ErrOrStderr(), "reach:", err)
	if isUsageError(err) {
		return exitUsage
	}
	return exitError3
}

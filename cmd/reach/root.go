package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses (see the package comment).
const (
	exitOK     = 0
	exitNo     = 1
	exitUsage  = 2
	exitError3 = 3
)

// exitError ends a command with a chosen status; msg (if any) goes to stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exitWith returns an error that makes reach exit with code after printing msg.
func exitWith(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// usageError marks a bad flag or argument (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func isUsageError(err error) bool {
	if _, ok := err.(*usageError); ok {
		return true
	}
	// cobra's own argument and flag errors.
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// globalOptions are the flags every command shares.
type globalOptions struct {
	dataDir string
	output  string // "text" or "json"
}

var global globalOptions

// subcommands is filled by the init functions of the files that define
// command groups (schema, tuple, check, ...), so that each lives in its own file.
var subcommands []func() *cobra.Command

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "reach",
		Short:         "reach is a relationship-based permission engine",
		Long:          "reach answers \"may this subject do this on that?\" from a schema (the SpiceDB schema language) and relationship tuples, with proof of why.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch global.output {
			case "text", "json":
			default:
				return usagef("--output must be text or json, not %q", global.output)
			}
			return checkDatastoreFlags(cmd)
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().StringVar(&global.dataDir, "data-dir", defaultDataDir(), "directory of the embedded store (env REACH_DATA_DIR)")
	root.PersistentFlags().StringVarP(&global.output, "output", "o", "text", "output format: text or json")
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	addDatastoreFlags(root) // --datastore, --datastore-uri, pool flags (datastore.go)
	addRemoteFlags(root)    // --endpoint, --token, --insecure, --ca-cert (remote.go)
	setVersionFlag(root)    // --version (version.go)
	root.InitDefaultCompletionCmd()
	guardTree(root) // unknown subcommands and wrong argument counts are usage errors (cmdtree.go)
	return root
}

// defaultDataDir is $REACH_DATA_DIR, else $XDG_DATA_HOME/reach, else
// ~/.local/share/reach, else ./reach-data.
func defaultDataDir() string {
	if d := os.Getenv("REACH_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "reach")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "reach")
	}
	return "reach-data"
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Named contexts, as zed has them: a name for a server (endpoint, API key,
// TLS settings), kept in $XDG_CONFIG_HOME/reach/contexts.json (mode 0600:
// it holds keys), one of which may be in use. The commands that can talk to
// a server (remoteCommands) use the context in use when no server or local
// store is named on the command line: --endpoint or REACH_ENDPOINT name a
// server, --data-dir or --datastore the local store, and each wins over the
// context. --token, REACH_TOKEN, --insecure and --ca-cert given beside a
// context override its own.

func init() { subcommands = append(subcommands, newContextCmd) }

// namedContext is one server.
type namedContext struct {
	Endpoint string `json:"endpoint"`
	Token    string `json:"token,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
	CACert   string `json:"ca_cert,omitempty"` // absolute path of a PEM file
}

// contextFile is the contents of contexts.json.
type contextFile struct {
	Current  string                  `json:"current,omitempty"`
	Contexts map[string]namedContext `json:"contexts"`
}

// contextsPath is $XDG_CONFIG_HOME/reach/contexts.json, else the same
// under the system's configuration directory (~/.config on Linux).
func contextsPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("no configuration directory for the contexts: set XDG_CONFIG_HOME (%w)", err)
		}
	}
	return filepath.Join(dir, "reach", "contexts.json"), nil
}

// loadContexts reads the contexts (none when the file does not exist).
func loadContexts() (*contextFile, string, error) {
	path, err := contextsPath()
	if err != nil {
		return nil, "", err
	}
	cf := &contextFile{Contexts: map[string]namedContext{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, path, nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("reading the contexts: %w", err)
	}
	if err := json.Unmarshal(b, cf); err != nil {
		return nil, path, fmt.Errorf("the contexts file %s: %w", path, err)
	}
	if cf.Contexts == nil {
		cf.Contexts = map[string]namedContext{}
	}
	return cf, path, nil
}

// save writes the contexts to path atomically, readable by the user alone.
func (cf *contextFile) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing the contexts: %w", err)
	}
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".contexts-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("writing the contexts: %w", err)
	}
	defer os.Remove(f.Name()) // (gone after the rename)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing the contexts: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("writing the contexts: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the contexts: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing the contexts: %w", err)
	}
	return nil
}

func (cf *contextFile) names() []string {
	names := make([]string, 0, len(cf.Contexts))
	for n := range cf.Contexts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// unknown is the usage error for a context name cf lacks.
func (cf *contextFile) unknown(name string) error {
	if len(cf.Contexts) == 0 {
		return usagef("no context %q: there are no contexts (add one with reach context set NAME ENDPOINT TOKEN)", name)
	}
	return usagef("no context %q%s; the contexts are %s", name, didYouMean(name, cf.names()), strings.Join(cf.names(), ", "))
}

// applyContext fills the server flags from the context in use, for a
// command that can talk to a server and names neither a server nor a
// local store.
func applyContext(cmd *cobra.Command) error {
	flags := cmd.Flags()
	if flags.Changed("endpoint") || os.Getenv("REACH_ENDPOINT") != "" || flags.Changed("data-dir") || flags.Changed("datastore") {
		return nil
	}
	cf, _, err := loadContexts()
	if err != nil {
		return err
	}
	if cf.Current == "" {
		return nil
	}
	c, ok := cf.Contexts[cf.Current]
	if !ok {
		return fmt.Errorf("the context in use, %q, is not defined: reach context use NAME, or reach context use --none for the local store", cf.Current)
	}
	remoteFlags.endpoint = c.Endpoint
	if !flags.Changed("token") && os.Getenv("REACH_TOKEN") == "" {
		remoteFlags.token = c.Token
	}
	if !flags.Changed("insecure") && !flags.Changed("ca-cert") {
		remoteFlags.insecure, remoteFlags.caCert = c.Insecure, c.CACert
	}
	return nil
}

var contextNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func newContextCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "context",
		Short: "Name servers (endpoint, API key, TLS) and choose the one commands talk to",
		Long: `Keep named contexts, as zed does: each names a server (its endpoint, API key
and TLS settings), and the one in use is where the commands that can talk to a
server (check, expand, lookup, schema write/read, tuple ..., bench) go when
the command line names no server (--endpoint, REACH_ENDPOINT) and no local
store (--data-dir, --datastore). --token, REACH_TOKEN, --insecure and
--ca-cert override the context's own.

The contexts are kept in $XDG_CONFIG_HOME/reach/contexts.json (by default
~/.config/reach/contexts.json), readable by you alone: it holds API keys.`,
		Example: `  reach context set prod --endpoint reach.example.com:443 --token "$KEY"
  reach context set dev 127.0.0.1:50051 devkey      # zed's form: NAME ENDPOINT TOKEN
  reach context list
  reach context use dev
  reach context use --none                           # back to the local store
  reach context remove prod`,
	}
	c.AddCommand(newContextSetCmd(), newContextListCmd(), newContextUseCmd(), newContextRemoveCmd())
	return c
}

func newContextSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set NAME [ENDPOINT [TOKEN]]",
		Short: "Save a context (a server) under NAME and use it",
		Long: `Save the server ENDPOINT (HOST:PORT; or --endpoint) with the API key TOKEN (or
--token) and its TLS settings (--insecure for plaintext, --ca-cert FILE for a
private certificate authority) under NAME, replacing a context of that name,
and use it from now on, as zed context set does.`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			name := args[0]
			if !contextNameRE.MatchString(name) {
				return usagef("context name %q: use letters, digits and ._- (starting with a letter or digit)", name)
			}
			var c namedContext
			if flags.Changed("endpoint") {
				c.Endpoint = remoteFlags.endpoint
			}
			if flags.Changed("token") {
				c.Token = remoteFlags.token
			}
			if len(args) > 1 {
				if c.Endpoint != "" {
					return usagef("give the endpoint once: as ENDPOINT or as --endpoint")
				}
				c.Endpoint = args[1]
			}
			if len(args) > 2 {
				if flags.Changed("token") {
					return usagef("give the API key once: as TOKEN or as --token")
				}
				c.Token = args[2]
			}
			if c.Endpoint == "" {
				return usagef("context %s: give the server's ENDPOINT (HOST:PORT), or --endpoint", name)
			}
			if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
				return usagef("endpoint %q: want HOST:PORT", c.Endpoint)
			}
			c.Insecure = remoteFlags.insecure
			if remoteFlags.caCert != "" {
				if c.Insecure {
					return usagef("--insecure and --ca-cert exclude each other")
				}
				abs, err := filepath.Abs(remoteFlags.caCert)
				if err != nil {
					return err
				}
				if _, err := os.Stat(abs); err != nil {
					return exitWith(exitError3, "reach: --ca-cert: %v", err)
				}
				c.CACert = abs
			}
			cf, path, err := loadContexts()
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			cf.Contexts[name] = c
			cf.Current = name
			if err := cf.save(path); err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			if global.output == "json" {
				return writeJSON(cmd.OutOrStdout(), contextJSONOf(cf, name, false))
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "context %s saved and in use: commands talk to %s (%s)\n", name, c.Endpoint, c.tls())
			return err
		},
	}
}

// tls describes how a context's connection is secured.
func (c namedContext) tls() string {
	switch {
	case c.Insecure:
		return "plaintext"
	case c.CACert != "":
		return "TLS, CA " + c.CACert
	case isLoopback(c.Endpoint):
		return "plaintext: loopback"
	}
	return "TLS"
}

// contextJSON is a context in -o json.
type contextJSON struct {
	Name     string `json:"name"`
	Current  bool   `json:"current"`
	Endpoint string `json:"endpoint"`
	Token    string `json:"token"`
	Insecure bool   `json:"insecure"`
	CACert   string `json:"ca_cert,omitempty"`
}

func contextJSONOf(cf *contextFile, name string, reveal bool) contextJSON {
	c := cf.Contexts[name]
	return contextJSON{Name: name, Current: name == cf.Current, Endpoint: c.Endpoint, Token: redact(c.Token, reveal), Insecure: c.Insecure, CACert: c.CACert}
}

// redact hides an API key unless reveal.
func redact(token string, reveal bool) string {
	switch {
	case token == "":
		return ""
	case reveal:
		return token
	}
	return "<redacted>"
}

func newContextListCmd() *cobra.Command {
	var reveal bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the contexts; * marks the one in use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, _, err := loadContexts()
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			if global.output == "json" {
				list := []contextJSON{}
				for _, n := range cf.names() {
					list = append(list, contextJSONOf(cf, n, reveal))
				}
				return writeJSON(cmd.OutOrStdout(), struct {
					Current  string        `json:"current"`
					Contexts []contextJSON `json:"contexts"`
				}{cf.Current, list})
			}
			if len(cf.Contexts) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no contexts: commands work on the local store (add one with reach context set NAME ENDPOINT TOKEN)")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CURRENT\tNAME\tENDPOINT\tTOKEN\tTLS")
			for _, n := range cf.names() {
				c := cf.Contexts[n]
				mark := ""
				if n == cf.Current {
					mark = "*"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", mark, n, c.Endpoint, redact(c.Token, reveal), c.tls())
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&reveal, "reveal-tokens", false, "print the API keys instead of <redacted>")
	return c
}

func newContextUseCmd() *cobra.Command {
	var none bool
	c := &cobra.Command{
		Use:               "use NAME | --none",
		Short:             "Use the context NAME from now on (--none: the local store)",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeContextNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if none == (len(args) == 1) {
				return usagef("give a context NAME, or --none for the local store")
			}
			cf, path, err := loadContexts()
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			msg := "no context in use: commands work on the local store"
			if none {
				cf.Current = ""
			} else {
				c, ok := cf.Contexts[args[0]]
				if !ok {
					return cf.unknown(args[0])
				}
				cf.Current = args[0]
				msg = fmt.Sprintf("context %s in use: commands talk to %s (%s)", args[0], c.Endpoint, c.tls())
			}
			if err := cf.save(path); err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), msg)
			return err
		},
	}
	c.Flags().BoolVar(&none, "none", false, "use no context: work on the local store")
	return c
}

func newContextRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "remove NAME",
		Short:             "Remove the context NAME",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContextNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, path, err := loadContexts()
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			name := args[0]
			if _, ok := cf.Contexts[name]; !ok {
				return cf.unknown(name)
			}
			delete(cf.Contexts, name)
			msg := "context " + name + " removed"
			if cf.Current == name {
				cf.Current = ""
				msg += "; it was in use: commands work on the local store now"
			}
			if err := cf.save(path); err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), msg)
			return err
		},
	}
}

func completeContextNames(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cf, _, err := loadContexts()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, n := range cf.names() {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, cobra.CompletionWithDesc(n, cf.Contexts[n].Endpoint))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

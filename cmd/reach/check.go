package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/engine"
)

func init() { subcommands = append(subcommands, newCheckCmd) }

// consistencyFlags are the --consistency and --revision flags of the
// commands that read the store through the engine.
type consistencyFlags struct {
	mode  string
	token string // --revision: a consistency token
	file  string
}

func (f *consistencyFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.mode, "consistency", "", "revision to read: minimize_latency (default), at_least_as_fresh, at_exact_snapshot or fully_consistent")
	c.Flags().StringVar(&f.token, "revision", "", "consistency TOKEN (printed by writes as \"revision: TOKEN\") for at_least_as_fresh (the default when one is given) and at_exact_snapshot")
	c.Flags().StringVar(&f.file, "file", "", "read a validation file (schema and relationships, zed validate format) into memory instead of the store in --data-dir")
}

// open opens what the command reads: the server of --endpoint, the --file
// validation file in memory, or the store in --data-dir. Call closeFn when
// done.
func (f *consistencyFlags) open(cmd *cobra.Command) (queryBackend, func() error, error) {
	if isRemote() {
		if f.file != "" {
			return nil, nil, usagef("--file reads a local file: it does not go with --endpoint")
		}
		c, err := dialRemote()
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	}
	e, s, closeFn, err := engineSource(cmd.Context(), f.file, engine.Options{})
	if err != nil {
		return nil, nil, err
	}
	return localQuery{e, s}, closeFn, nil
}

// consistency reads the flags; their errors are usage errors.
func (f *consistencyFlags) consistency() (engine.Consistency, error) {
	mode := f.mode
	if mode == "" {
		mode = engine.MinimizeLatency.String()
		if f.token != "" {
			mode = engine.AtLeastAsFresh.String()
		}
	}
	m, err := engine.ParseConsistencyMode(mode)
	if err != nil {
		return engine.Consistency{}, usagef("--consistency: %v", err)
	}
	needs := m == engine.AtLeastAsFresh || m == engine.AtExactSnapshot
	switch {
	case needs && f.token == "":
		return engine.Consistency{}, usagef("--consistency %s needs --revision", m)
	case !needs && f.token != "":
		return engine.Consistency{}, usagef("--revision goes with --consistency at_least_as_fresh or at_exact_snapshot, not %s", m)
	}
	return engine.Consistency{Mode: m, Token: f.token}, nil
}

func newCheckCmd() *cobra.Command {
	var (
		cons    consistencyFlags
		explain bool
		format  string
		ctxJSON string
	)
	c := &cobra.Command{
		Use:   "check RESOURCE PERMISSION SUBJECT",
		Short: "Does SUBJECT reach PERMISSION on RESOURCE? (allowed, denied or conditional)",
		Long: `Check whether SUBJECT (type:id, or a subject set type:id#relation) reaches PERMISSION
(a permission or relation) on RESOURCE (type:id), reading the store in --data-dir
(or, with --endpoint, asking the server).

Caveated relationships are evaluated with --context, a JSON object of caveat
parameters (merged under each relationship's own context, which wins for a name
both give).

It prints one line, "allowed", "denied" or "conditional" (reached only through caveats
whose parameters the context lacks), and exits with status 0 for allowed, 1 for denied or
conditional, 3 for an error (with the message on stderr) and 2 for bad arguments.
With -o json it prints {"permissionship": ..., "allowed": ..., "token": ...}, with the
same exit status.

--explain adds the proof: the relationships and rules that lead from the subject to
the permission, or, for a denial, every branch tried; as an indented tree (--format
tree, the default) or a Graphviz digraph (--format dot; draw it with dot -Tsvg).
A check that fails (deeper than the depth limit, a permission that depends on
itself through an exclusion, a caveat that cannot be evaluated) prints its
explanation up to the failure, its steps "failed" down to the one it "failed
here", then the error (status 3).
With --endpoint the server sends its explanation as SpiceDB's debug trace
(with_tracing; for a failure, in the error's details, as SpiceDB does):
reach serve's prints exactly as the local command's; a SpiceDB server's shows
its permission and relation steps.`,
		Example: `  reach check document:q3 view user:ana
  reach check document:q3 view group:eng#member --explain
  reach check document:q3 view user:ana --context '{"ip": "10.0.0.7"}'
  reach check document:q3 view user:ana --explain --format dot | dot -Tsvg > why.svg
  reach check document:q3 edit user:ana --consistency at_exact_snapshot --revision "$TOKEN" -o json
  reach --endpoint reach.internal:50051 --token "$REACH_KEY" check document:q3 view user:ana --explain`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := engine.ParseObject(args[0])
			if err != nil {
				return usagef("RESOURCE: %v", err)
			}
			subject, err := engine.ParseSubject(args[2])
			if err != nil {
				return usagef("SUBJECT: %v", err)
			}
			consistency, err := cons.consistency()
			if err != nil {
				return err
			}
			if format != "tree" && format != "dot" {
				return usagef("--format must be tree or dot, not %q", format)
			}
			caveatCtx, err := parseContextFlag(ctxJSON)
			if err != nil {
				return err
			}
			e, closeFn, err := cons.open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			res, err := e.Check(cmd.Context(), engine.CheckRequest{
				Resource: resource, Permission: args[1], Subject: subject, Consistency: consistency, Explain: explain,
				Context: caveatCtx,
			})
			if err != nil {
				// A check that failed explains itself up to the failure
				// (the error itself goes to stderr).
				var xe *engine.ExplainedError
				if explain && errors.As(err, &xe) && xe.Explanation != nil {
					if perr := printCheckFailure(cmd.OutOrStdout(), err, xe.Explanation, format); perr != nil {
						return perr
					}
				}
				return err
			}
			if err := printCheck(cmd.OutOrStdout(), res, format); err != nil {
				return err
			}
			if res.Permissionship != engine.Allowed {
				return exitWith(exitNo, "")
			}
			return nil
		},
	}
	cons.add(c)
	c.ValidArgsFunction = completeArgs(argSpec{kinds: []argKind{argObject, argMember, argSubject}, of: []int{0, 0, 0}}, &cons.file)
	c.Flags().BoolVar(&explain, "explain", false, "print why: the proof of an allowed check, or the branches a denied one tried")
	c.Flags().StringVar(&format, "format", "tree", "explanation format: tree or dot")
	c.Flags().StringVar(&ctxJSON, "context", "", "caveat context: a JSON object of caveat parameters, e.g. '{\"day\": \"monday\"}'")
	return c
}

// parseContextFlag reads --context: a JSON object, nil when empty. Numbers
// are decoded as float64, as the caveats package expects from JSON.
func parseContextFlag(s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, usagef("--context: want a JSON object: %v", err)
	}
	if m == nil {
		return nil, usagef("--context: want a JSON object, not null")
	}
	if dec.More() {
		return nil, usagef("--context: text after the JSON object")
	}
	return m, nil
}

// checkJSON is the -o json form of a check's answer.
type checkJSON struct {
	Permissionship string           `json:"permissionship"`
	Allowed        bool             `json:"allowed"`
	Token          string           `json:"token"`
	Revision       uint64           `json:"revision"`
	MissingContext []string         `json:"missing_context,omitempty"`
	Explanation    *explanationJSON `json:"explanation,omitempty"`
	Dot            string           `json:"dot,omitempty"`
}

type explanationJSON struct {
	Rule         string             `json:"rule"`
	Label        string             `json:"label"`
	Result       string             `json:"result"`
	Resource     string             `json:"resource,omitempty"`
	Relation     string             `json:"relation,omitempty"`
	Relationship string             `json:"relationship,omitempty"`
	CaveatFalse  string             `json:"caveat_false,omitempty"` // the relationship's caveat, false
	Arrow        string             `json:"arrow,omitempty"`
	Children     []*explanationJSON `json:"children,omitempty"`
}

func toExplanationJSON(x *engine.Explanation) *explanationJSON {
	if x == nil {
		return nil
	}
	j := &explanationJSON{Rule: x.Rule, Label: x.Label(), Result: x.ResultString(), Relation: x.Relation,
		Relationship: x.Relationship, CaveatFalse: x.CaveatFalse, Arrow: x.Arrow}
	if x.Resource != (engine.Object{}) {
		j.Resource = x.Resource.String()
	}
	for _, c := range x.Children {
		if c != nil {
			j.Children = append(j.Children, toExplanationJSON(c))
		}
	}
	return j
}

func printCheck(w io.Writer, res engine.CheckResult, format string) error {
	if global.output == "json" {
		out := checkJSON{Permissionship: res.Permissionship.String(), Allowed: res.Permissionship == engine.Allowed,
			Token: res.Revision.Token(), Revision: uint64(res.Revision), MissingContext: res.Missing}
		if res.Explanation != nil {
			if format == "dot" {
				var b strings.Builder
				if err := res.Explanation.WriteDot(&b); err != nil {
					return err
				}
				out.Dot = b.String()
			} else {
				out.Explanation = toExplanationJSON(res.Explanation)
			}
		}
		return engineWriteJSON(w, out)
	}
	if res.Explanation != nil && format == "dot" {
		return res.Explanation.WriteDot(w)
	}
	if _, err := fmt.Fprintln(w, res.Permissionship); err != nil {
		return err
	}
	if len(res.Missing) > 0 {
		// A conditional answer: the caveat context it lacks.
		if _, err := fmt.Fprintf(w, "missing context: %s\n", strings.Join(res.Missing, ", ")); err != nil {
			return err
		}
	}
	if res.Explanation != nil {
		return res.Explanation.WriteTree(w)
	}
	return nil
}

// checkFailureJSON is the -o json form of a check that failed, explained.
type checkFailureJSON struct {
	Error       string           `json:"error"`
	Explanation *explanationJSON `json:"explanation,omitempty"`
	Dot         string           `json:"dot,omitempty"`
}

// printCheckFailure prints the explanation x of a check that failed with
// err: the tree or digraph alone, or with -o json the error and the
// explanation.
func printCheckFailure(w io.Writer, err error, x *engine.Explanation, format string) error {
	if global.output == "json" {
		out := checkFailureJSON{Error: err.Error()}
		if format == "dot" {
			var b strings.Builder
			if err := x.WriteDot(&b); err != nil {
				return err
			}
			out.Dot = b.String()
		} else {
			out.Explanation = toExplanationJSON(x)
		}
		return engineWriteJSON(w, out)
	}
	if format == "dot" {
		return x.WriteDot(w)
	}
	return x.WriteTree(w)
}

// engineWriteJSON prints v as indented JSON and a newline (the -o json
// output of check, expand and lookup).
func engineWriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }

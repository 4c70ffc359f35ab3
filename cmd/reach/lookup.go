package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/engine"
)

func init() { subcommands = append(subcommands, newLookupCmd) }

func newLookupCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lookup",
		Short: "Find the resources a subject reaches, or the subjects that reach a resource",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newLookupResourcesCmd(), newLookupSubjectsCmd())
	return c
}

func newLookupResourcesCmd() *cobra.Command {
	var (
		cons   consistencyFlags
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "resources TYPE PERMISSION SUBJECT",
		Short: "List the resources of TYPE on which SUBJECT reaches PERMISSION",
		Long: `List the ids of the resources of TYPE on which SUBJECT (type:id or type:id#relation)
reaches PERMISSION, one a line, in id order. A resource reached only through caveats
that were not evaluated is followed by " (conditional)".

The lookup walks up from the subject through the reverse index, never by checking
every resource. With --limit N it prints at most N ids; when more remain it prints
"next cursor: C" on stderr (and "cursor" in -o json): pass --cursor C to continue, at
the same revision. Exit status 0 (even when nothing is found), 2 for bad arguments,
3 for an error.`,
		Example: `  reach lookup resources document view user:ana
  reach lookup resources document view user:ana --limit 100 -o json`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject, err := engine.ParseSubject(args[2])
			if err != nil {
				return usagef("SUBJECT: %v", err)
			}
			if strings.ContainsAny(args[0], ":#@ ") || args[0] == "" {
				return usagef("TYPE: %q is not a type name", args[0])
			}
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			consistency, err := cons.consistency()
			if err != nil {
				return err
			}
			e, closeFn, err := cons.open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			type resultJSON struct {
				ID             string `json:"id"`
				Permissionship string `json:"permissionship"`
			}
			out := cmd.OutOrStdout()
			var results []resultJSON
			var werr error
			next, err := e.LookupResources(cmd.Context(), engine.LookupResourcesRequest{
				ResourceType: args[0], Permission: args[1], Subject: subject, Consistency: consistency,
				Limit: limit, Cursor: cursor,
			}, func(r engine.LookupResult) bool {
				if global.output == "json" {
					results = append(results, resultJSON{r.ResourceID, r.Permissionship.String()})
					return true
				}
				line := r.ResourceID
				if r.Permissionship != engine.Allowed {
					line += " (" + r.Permissionship.String() + ")"
				}
				_, werr = fmt.Fprintln(out, line)
				return werr == nil
			})
			if err != nil {
				return err
			}
			if werr != nil {
				return werr
			}
			if global.output == "json" {
				if results == nil {
					results = []resultJSON{}
				}
				return engineWriteJSON(out, struct {
					Resources []resultJSON `json:"resources"`
					Cursor    string       `json:"cursor,omitempty"`
				}{results, next})
			}
			if next != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "next cursor:", next)
			}
			return nil
		},
	}
	cons.add(c)
	c.ValidArgsFunction = completeArgs(argSpec{kinds: []argKind{argType, argMember, argSubject}, of: []int{0, 0, 0}}, &cons.file)
	c.Flags().IntVar(&limit, "limit", 0, "print at most this many resources (0: all)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue a limited lookup from the cursor it printed")
	return c
}

func newLookupSubjectsCmd() *cobra.Command {
	var cons consistencyFlags
	c := &cobra.Command{
		Use:   "subjects RESOURCE PERMISSION SUBJECT_TYPE",
		Short: "List the subjects of SUBJECT_TYPE that reach PERMISSION on RESOURCE",
		Long: `List the subjects of SUBJECT_TYPE (a type, or type#relation for subject sets) that reach
PERMISSION on RESOURCE, one a line, as SpiceDB reports them: a wildcard first, as
"type:*", followed by the subjects it does not cover, "type:* - {type:a, type:b}"; then
the subjects found by id. A subject reached only through caveats that were not
evaluated is followed by " (conditional)". Exit status 0 (even when nothing is found),
2 for bad arguments, 3 for an error.`,
		Example: `  reach lookup subjects document:q3 view user
  reach lookup subjects document:q3 view group#member -o json`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := engine.ParseObject(args[0])
			if err != nil {
				return usagef("RESOURCE: %v", err)
			}
			stype, srel, _ := strings.Cut(args[2], "#")
			if stype == "" || strings.ContainsAny(stype, ":@ ") || strings.ContainsAny(srel, ":#@ ") || strings.HasSuffix(args[2], "#") {
				return usagef("SUBJECT_TYPE: %q is not a type or type#relation", args[2])
			}
			consistency, err := cons.consistency()
			if err != nil {
				return err
			}
			e, closeFn, err := cons.open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			found, rev, err := e.LookupSubjects(cmd.Context(), engine.LookupSubjectsRequest{
				Resource: resource, Permission: args[1], SubjectType: stype, SubjectRelation: srel, Consistency: consistency,
			})
			if err != nil {
				return err
			}
			name := func(id string) string {
				s := engine.Subject{Type: stype, ID: id, Relation: srel}
				return s.String()
			}
			if global.output == "json" {
				type subjectJSON struct {
					Subject        string   `json:"subject"`
					Permissionship string   `json:"permissionship"`
					Excluded       []string `json:"excluded,omitempty"`
				}
				subjects := []subjectJSON{}
				for _, f := range found {
					j := subjectJSON{Subject: name(f.ID), Permissionship: f.Permissionship.String()}
					for _, x := range f.Excluded {
						j.Excluded = append(j.Excluded, name(x))
					}
					subjects = append(subjects, j)
				}
				return engineWriteJSON(cmd.OutOrStdout(), struct {
					Subjects []subjectJSON `json:"subjects"`
					Token    string        `json:"token"`
				}{subjects, rev.Token()})
			}
			for _, f := range found {
				line := name(f.ID)
				if len(f.Excluded) > 0 {
					var ex []string
					for _, x := range f.Excluded {
						ex = append(ex, name(x))
					}
					line += " - {" + strings.Join(ex, ", ") + "}"
				}
				if f.Permissionship != engine.Allowed {
					line += " (" + f.Permissionship.String() + ")"
				}
				if _, err := fmt.Fprintln(cmd.OutOrStdout(), line); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cons.add(c)
	c.ValidArgsFunction = completeArgs(argSpec{kinds: []argKind{argObject, argMember, argSubjectType}, of: []int{0, 0, 0}}, &cons.file)
	return c
}

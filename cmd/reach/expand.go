package main

import (
	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/engine"
)

func init() { subcommands = append(subcommands, newExpandCmd) }

func newExpandCmd() *cobra.Command {
	var cons consistencyFlags
	c := &cobra.Command{
		Use:   "expand RESOURCE PERMISSION",
		Short: "Print the userset tree of PERMISSION on RESOURCE",
		Long: `Expand PERMISSION (a permission or relation) on RESOURCE (type:id) into its userset
tree: the schema's rules applied to the stored relationships, one node a line, indented
by depth. Computed usersets and arrows are expanded; relations are leaves listing their
subjects (subject sets are listed, not expanded further, as SpiceDB does).

Node operations: union, intersection, exclusion (the first child minus the others),
leaf, and cycle (a node already being expanded above). With -o json the tree is printed
as nested objects with the revision's token.`,
		Example: `  reach expand document:q3 view
  reach expand group:eng member -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := engine.ParseObject(args[0])
			if err != nil {
				return usagef("RESOURCE: %v", err)
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
			tree, rev, err := e.Expand(cmd.Context(), resource, args[1], consistency)
			if err != nil {
				return err
			}
			if global.output == "json" {
				return engineWriteJSON(cmd.OutOrStdout(), struct {
					Token string          `json:"token"`
					Tree  *expandNodeJSON `json:"tree"`
				}{rev.Token(), toExpandJSON(tree)})
			}
			return tree.WriteTree(cmd.OutOrStdout())
		},
	}
	cons.add(c)
	c.ValidArgsFunction = completeArgs(argSpec{kinds: []argKind{argObject, argMember}, of: []int{0, 0}}, &cons.file)
	return c
}

type expandNodeJSON struct {
	Op       string              `json:"op"`
	Resource string              `json:"resource,omitempty"`
	Relation string              `json:"relation,omitempty"`
	Arrow    string              `json:"arrow,omitempty"`
	Subjects []expandSubjectJSON `json:"subjects,omitempty"`
	Children []*expandNodeJSON   `json:"children,omitempty"`
}

type expandSubjectJSON struct {
	Subject string `json:"subject"`
	Caveat  string `json:"caveat,omitempty"`
}

func toExpandJSON(n *engine.ExpandNode) *expandNodeJSON {
	j := &expandNodeJSON{Op: n.Op, Relation: n.Relation, Arrow: n.Arrow}
	if n.Resource != (engine.Object{}) {
		j.Resource = n.Resource.String()
	}
	for _, s := range n.Subjects {
		j.Subjects = append(j.Subjects, expandSubjectJSON{Subject: s.Subject.String(), Caveat: s.Caveat})
	}
	for _, c := range n.Children {
		j.Children = append(j.Children, toExpandJSON(c))
	}
	return j
}

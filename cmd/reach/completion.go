package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Shell completion from the schema, as zed completes: `reach check <TAB>`
// offers the types of the schema ("document:"), then the ids of that type
// found in the store ("document:q3"), then its permissions and relations,
// then subjects likewise. The schema and the ids are read from what the
// command would read: the store in --data-dir (never created), the server
// of --endpoint, or the --file validation file. The ids are those of at
// most completionScan relationships, so that a large store answers at once.
// (reach completion bash|zsh|fish|powershell prints the shell's script.)

// completionScan bounds the relationships read for the ids of one
// completion.
const completionScan = 1000

// argKind is what a positional argument holds, for completion.
type argKind int

const (
	argObject      argKind = iota // type:id
	argType                       // type
	argMember                     // a relation or permission of the type of args[of]
	argSubject                    // type:id or type:id#relation
	argSubjectType                // type or type#relation
)

// argSpec describes the positional arguments of a command: kinds[i] is
// what argument i holds; of[i] is the argument whose type argMember uses.
type argSpec struct {
	kinds []argKind
	of    []int
}

// completeArgs returns the ValidArgsFunction of a command whose arguments
// spec describes. file is the command's --file flag (nil if none).
func completeArgs(spec argSpec, file *string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		none := cobra.ShellCompDirectiveNoFileComp
		if len(args) >= len(spec.kinds) {
			return nil, none
		}
		src, closeFn, err := openCompletionSource(cmd.Context(), file)
		if err != nil {
			return nil, none
		}
		defer closeFn()
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		prog, _, err := src.Schema(ctx)
		if err != nil || prog == nil {
			return nil, none
		}
		switch kind := spec.kinds[len(args)]; kind {
		case argType:
			return completeTypes(prog, toComplete, ""), none
		case argSubjectType:
			if typ, _, ok := strings.Cut(toComplete, "#"); ok {
				return completeMembers(prog, typ, typ+"#", toComplete), none
			}
			return completeTypes(prog, toComplete, ""), none
		case argMember:
			typ, _, _ := strings.Cut(args[spec.of[len(args)]], ":")
			return completeMembers(prog, typ, "", toComplete), none
		default: // argObject, argSubject
			typ, id, ok := strings.Cut(toComplete, ":")
			if !ok {
				return completeTypes(prog, toComplete, ":"), none | cobra.ShellCompDirectiveNoSpace
			}
			if kind == argSubject {
				if obj, _, ok := strings.Cut(toComplete, "#"); ok {
					return completeMembers(prog, typ, obj+"#", toComplete), none
				}
			}
			return completeIDs(ctx, src, prog, typ, id, kind == argSubject), none
		}
	}
}

// completionSource is what completion reads: a store or a server.
type completionSource interface {
	schemaGetter
	ReadRelationships(ctx context.Context, f tuples.Filter, opts tuples.ReadOptions) (tuples.ReadResult, error)
}

func openCompletionSource(ctx context.Context, file *string) (completionSource, func() error, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if file != nil && *file != "" && !isRemote() {
		_, s, closeFn, err := engineSource(ctx, *file, engine.Options{})
		return s, closeFn, err
	}
	s, err := openStore(ctx, readAccess)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// completeTypes offers the types of prog that start with prefix, each
// followed by suffix (":" where an id comes next).
func completeTypes(prog *schema.Program, prefix, suffix string) []cobra.Completion {
	var out []cobra.Completion
	for _, d := range prog.Definitions() {
		if strings.HasPrefix(d.Name, prefix) {
			out = append(out, cobra.CompletionWithDesc(d.Name+suffix, "type"))
		}
	}
	return out
}

// completeMembers offers the permissions and relations of typ, as
// before+name, that start with toComplete.
func completeMembers(prog *schema.Program, typ, before, toComplete string) []cobra.Completion {
	d := prog.Definition(typ)
	if d == nil {
		return nil
	}
	var out []cobra.Completion
	for _, r := range d.Relations {
		if s := before + r.Name; strings.HasPrefix(s, toComplete) {
			desc := "relation"
			if r.Kind != schema.KindRelation {
				desc = "permission"
			}
			out = append(out, cobra.CompletionWithDesc(s, desc))
		}
	}
	return out
}

// completeIDs offers "typ:id" for the ids of typ starting with prefix found
// in the first completionScan relationships that name typ as a resource
// (as a subject too, for a subject: users are seldom resources).
func completeIDs(ctx context.Context, src completionSource, prog *schema.Program, typ, prefix string, subject bool) []cobra.Completion {
	if prog.Definition(typ) == nil {
		return nil
	}
	seen := map[string]bool{}
	res, err := src.ReadRelationships(ctx, tuples.Filter{ResourceType: typ, ResourceIDPrefix: prefix}, tuples.ReadOptions{Limit: completionScan})
	if err == nil {
		for _, r := range res.Relationships {
			seen[r.ResourceID] = true
		}
	}
	if subject {
		res, err := src.ReadRelationships(ctx, tuples.Filter{Subject: &tuples.SubjectFilter{Type: typ}}, tuples.ReadOptions{Limit: completionScan})
		if err == nil {
			for _, r := range res.Relationships {
				if r.SubjectID != "*" && strings.HasPrefix(r.SubjectID, prefix) {
					seen[r.SubjectID] = true
				}
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]cobra.Completion, len(ids))
	for i, id := range ids {
		out[i] = typ + ":" + id
	}
	return out
}

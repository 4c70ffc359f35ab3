package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// guardTree makes every command of the tree below root refuse what it does
// not understand, with status 2 (usage) and a hint, instead of printing its
// help with status 0, which a script reads as success:
//
//   - a command group (tuple, schema, lookup, ...) given an unknown
//     subcommand names the nearest ones ("did you mean ...?");
//   - a command given the wrong number of arguments prints its usage line.
//
// It runs over the finished tree, so a group added later is covered too.
// (The root's own unknown commands are cobra's, with the same suggestions.)
func guardTree(root *cobra.Command) {
	for _, c := range root.Commands() {
		guardCommand(c)
	}
	root.SetHelpCommand(newHelpCmd())
}

func guardCommand(c *cobra.Command) {
	for _, sub := range c.Commands() {
		guardCommand(sub)
	}
	if c.HasSubCommands() && !c.Runnable() {
		// A group: with no argument it prints its help (status 0), as
		// `reach` alone does; with one, the argument is a mistyped
		// subcommand.
		c.Args = unknownSubcommand
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
		return
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usagef("%v\nUsage: %s\nRun '%s --help' for more.", err, cmd.UseLine(), cmd.CommandPath())
			}
			return nil
		}
	}
}

// unknownSubcommand refuses any argument to a command group, naming the
// subcommands it may have meant as cobra does for the root.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usagef("unknown command %q for %q%s\nRun '%s --help' for its commands.",
		args[0], cmd.CommandPath(), suggestCommands(cmd, args[0]), cmd.CommandPath())
}

// suggestCommands is "\n\nDid you mean this?\n\tNAME\n..." for the
// subcommands of cmd close to typed, or "".
func suggestCommands(cmd *cobra.Command, typed string) string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only for the root
	}
	s := cmd.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	return "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
}

// newHelpCmd is `reach help [COMMAND...]`: cobra's, but an unknown topic is
// a usage error with suggestions rather than a note and status 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: reach help [path to command].",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return usagef("%v", err) // the root's unknown command, with suggestions
			}
			if len(rest) > 0 {
				return usagef("unknown help topic %q for %q%s", rest[0], cmd.CommandPath(), suggestCommands(cmd, rest[0]))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

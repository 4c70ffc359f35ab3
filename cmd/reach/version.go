package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newVersionCmd) }

// version is the release version. A release build stamps it at link time
// (scripts/release.sh):
//
//	go build -trimpath -ldflags "-X main.version=v1.2.0" ./cmd/reach
//
// Unstamped, it is the module version Go records from the VCS (a
// pseudo-version, or "(devel)").
var version string

// versionInfo is what `reach version` reports.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`      // vcs.revision, "" if unknown
	Time     string `json:"commit_time,omitempty"` // vcs.time
	Modified bool   `json:"modified"`              // built from a tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildInfo reads the version stamp and the build information the Go
// toolchain records in the binary (runtime/debug.ReadBuildInfo).
func buildInfo() versionInfo {
	v := versionInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		v.Go = bi.GoVersion
		if v.Version == "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

// short is the one-line form: "reach v1.2.0 (commit 0123456789ab, go1.26.8 linux/amd64)".
func (v versionInfo) short() string {
	var parts []string
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if v.Modified {
			c += "+modified"
		}
		parts = append(parts, "commit "+c)
	}
	parts = append(parts, v.Go+" "+v.Platform)
	return fmt.Sprintf("reach %s (%s)", v.Version, strings.Join(parts, ", "))
}

func (v versionInfo) writeText(w io.Writer) error {
	commit := v.Commit
	switch {
	case commit == "":
		commit = "unknown (built outside a git checkout)"
	case v.Modified:
		commit += " (modified: built with uncommitted changes)"
	}
	if v.Time != "" {
		commit += ", " + v.Time
	}
	_, err := fmt.Fprintf(w, "reach %s\ncommit: %s\ngo:     %s %s\n", v.Version, commit, v.Go, v.Platform)
	return err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print reach's version, commit and Go version",
		Long: `Print the version of reach, the commit it was built from (and whether the
tree had uncommitted changes), and the Go version and platform it was built
with. With --output json, one JSON object. reach --version prints one line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := buildInfo()
			if global.output == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return v.writeText(cmd.OutOrStdout())
		},
	}
}

// setVersionFlag gives the root a --version flag that prints the one-line
// version.
func setVersionFlag(root *cobra.Command) {
	root.Version = buildInfo().short()
	root.SetVersionTemplate("{{.Version}}\n")
}

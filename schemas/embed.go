// Package schemas holds the five seed models of reach: each product of
// ../shared/seeds modelled in the SpiceDB schema language (NAME.zed) with a
// `zed validate` file (NAME.yaml, `schemaFile: NAME.zed`) whose assertions
// check every cell of the product's permission tables (README.md explains
// the models).
//
// The files are embedded, so that programs can offer the models without a
// checkout: `reach playground` loads them from its model menu. Read them
// through FS; Names lists the models.
package schemas

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

// FS holds the seed models: NAME.zed and NAME.yaml for each name of Names,
// at the root of the file system.
//
//go:embed *.zed *.yaml
var FS embed.FS

// Names lists the seed models (NAME of NAME.yaml), sorted.
func Names() []string {
	files, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		panic(err) // the pattern is well formed
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(f, ".yaml")
	}
	sort.Strings(names)
	return names
}

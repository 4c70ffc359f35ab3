package schemas_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/schemas"
)

// TestFS checks that the embedded files are the files of this directory and
// that each model loads from them alone (its schemaFile read from FS).
func TestFS(t *testing.T) {
	names := schemas.Names()
	var want []string
	for _, m := range seeds {
		want = append(want, m)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for _, n := range names {
		for _, ext := range []string{".zed", ".yaml"} {
			got, err := fs.ReadFile(schemas.FS, n+ext)
			if err != nil {
				t.Fatal(err)
			}
			disk, err := os.ReadFile(n + ext)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(disk) {
				t.Errorf("embedded %s differs from the file", n+ext)
			}
		}
		data, _ := fs.ReadFile(schemas.FS, n+".yaml")
		f, err := validation.Parse(n+".yaml", data, func(name string) ([]byte, error) {
			return fs.ReadFile(schemas.FS, filepath.ToSlash(name))
		})
		if err != nil {
			t.Fatal(err)
		}
		env, err := validation.Load(context.Background(), f, validation.DefaultOptions().Engine)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		env.Close()
	}
}

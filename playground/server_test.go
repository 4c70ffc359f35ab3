package playground

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/schemas"
)

func newTestServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

// call sends a request and decodes the JSON answer.
func call(t *testing.T, ts *httptest.Server, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	} else {
		out = map[string]any{"raw": string(data)}
	}
	return resp.StatusCode, out
}

// seedState is a seed model as the page loads it.
func seedState(t *testing.T, name string) State {
	t.Helper()
	data, err := fs.ReadFile(schemas.FS, name+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := fileToState(name+".yaml", data, func(n string) ([]byte, error) { return fs.ReadFile(schemas.FS, n) })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// get walks a decoded JSON value: get(v, "a", 0, "b").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestAPI(t *testing.T) {
	ts := newTestServer(t, Options{})
	gifting := seedState(t, "gifting")
	broken := gifting
	// Line 3 of this schema names an unknown type at column 19.
	broken.Schema = "definition user {}\ndefinition doc {\n  relation owner: usr\n}\n"
	badRels := gifting
	badRels.Relationships = "send:s1#sender@user:uma\nsend:s1#nope@user:uma\n// a comment\n  send:s1#sender@team:x\n"
	badAsserts := gifting
	badAsserts.Assertions = "assertTrue:\n  - send:s1#cancel@user:dana\nassertFalse:\n  - send:s1#cancel@user:dana\n  - send:s1#frobnicate@user:dana\n"
	yamlBroken := gifting
	yamlBroken.Assertions = "assertTrue:\n  - send:s1#cancel@user:dana\n  bad: [\n"
	changed := gifting
	changed.Schema = strings.Replace(gifting.Schema, "permission cancel = sender + department->admins + organization->admins", "permission cancel = department->admins + organization->admins", 1)

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		check  func(t *testing.T, out map[string]any)
	}{
		{"seeds", "GET", "/api/seeds", nil, 200, nil},
		{"seed", "GET", "/api/seeds/gifting", nil, 200, func(t *testing.T, out map[string]any) {
			if get(out, "state", "schema") != gifting.Schema || get(out, "presets", 0, "title") != "Sends (detailed matrix)" {
				t.Errorf("seed: %v", get(out, "presets"))
			}
		}},
		{"unknown seed", "GET", "/api/seeds/nope", nil, 404, nil},
		{"analyze a seed", "POST", "/api/analyze", gifting, 200, func(t *testing.T, out map[string]any) {
			if get(out, "valid") != true || len(get(out, "schema_diagnostics").([]any)) != 0 || len(get(out, "relationship_diagnostics").([]any)) != 0 {
				t.Errorf("diagnostics: %v %v", get(out, "schema_diagnostics"), get(out, "relationship_diagnostics"))
			}
			as := get(out, "assertions").([]any)
			for _, a := range as {
				if get(a, "passed") != true {
					t.Errorf("assertion failed: %v", a)
				}
			}
			if len(as) < 100 || get(out, "graph", "nodes", 0, "name") != "user" {
				t.Errorf("%d assertions, graph %v", len(as), get(out, "graph", "nodes", 0))
			}
		}},
		{"schema error at its line and column", "POST", "/api/analyze", broken, 200, func(t *testing.T, out map[string]any) {
			d := get(out, "schema_diagnostics", 0)
			if get(out, "valid") != false || get(d, "line") != 3.0 || get(d, "column") != 19.0 || !strings.Contains(get(d, "message").(string), `did you mean "user"`) {
				t.Errorf("diagnostic %v", d)
			}
		}},
		{"bad relationships", "POST", "/api/analyze", badRels, 200, func(t *testing.T, out map[string]any) {
			ds := get(out, "relationship_diagnostics").([]any)
			if len(ds) != 2 || get(ds[0], "line") != 2.0 || get(ds[1], "line") != 4.0 || get(ds[1], "column") != 3.0 {
				t.Errorf("diagnostics %v", ds)
			}
		}},
		{"failing and bad assertions", "POST", "/api/analyze", badAsserts, 200, func(t *testing.T, out map[string]any) {
			as := get(out, "assertions").([]any)
			if len(as) != 2 || get(as[0], "passed") != true || get(as[1], "passed") != false || get(as[1], "line") != 4.0 {
				t.Errorf("assertions %v", as)
			}
			d := get(out, "assertion_diagnostics", 0)
			if get(d, "line") != 5.0 || !strings.Contains(get(d, "message").(string), "frobnicate") {
				t.Errorf("diagnostic %v", d)
			}
		}},
		{"assertions that are not YAML", "POST", "/api/analyze", yamlBroken, 200, func(t *testing.T, out map[string]any) {
			if d := get(out, "assertion_diagnostics", 0); get(d, "line") == nil {
				t.Errorf("diagnostic %v", d)
			}
		}},
		{"check allowed", "POST", "/api/check", map[string]any{"state": gifting, "resource": "send:s1", "permission": "cancel", "subject": "user:dana"}, 200,
			func(t *testing.T, out map[string]any) {
				if get(out, "result") != "allowed" || get(out, "proof", "nodes", 0, "label") != "send:s1#cancel (permission)" || len(get(out, "proof", "edges").([]any)) == 0 {
					t.Errorf("check: %v", out)
				}
				if !strings.Contains(get(out, "tree").(string), "department:sales#admin@user:dana") {
					t.Errorf("tree: %v", get(out, "tree"))
				}
			}},
		{"check denied", "POST", "/api/check", map[string]any{"state": gifting, "resource": "send:s1", "permission": "cancel", "subject": "user:sam"}, 200,
			func(t *testing.T, out map[string]any) {
				if get(out, "result") != "denied" || get(out, "proof", "nodes", 0, "result") != "denied" {
					t.Errorf("check: %v", out)
				}
			}},
		{"check a typo", "POST", "/api/check", map[string]any{"state": gifting, "resource": "send:s1", "permission": "cancle", "subject": "user:sam"}, 400,
			func(t *testing.T, out map[string]any) {
				if !strings.Contains(get(out, "error").(string), `did you mean "cancel"`) {
					t.Errorf("error %v", out)
				}
			}},
		{"check on a broken schema", "POST", "/api/check", map[string]any{"state": broken, "resource": "doc:a", "permission": "owner", "subject": "user:a"}, 422, nil},
		{"check a bad resource", "POST", "/api/check", map[string]any{"state": gifting, "resource": "s1", "permission": "cancel", "subject": "user:sam"}, 400, nil},
		{"unknown field", "POST", "/api/check", map[string]any{"state": gifting, "resource": "send:s1", "permission": "cancel", "subject": "user:sam", "frob": 1}, 400, nil},
		{"not JSON", "POST", "/api/check", "{", 400, nil},
		{"lookup resources", "POST", "/api/lookup/resources", map[string]any{"state": gifting, "resource_type": "send", "permission": "cancel", "subject": "user:dana"}, 200,
			func(t *testing.T, out map[string]any) {
				if fmt.Sprint(out["resources"]) != "[map[id:send:s1 result:allowed] map[id:send:s3 result:allowed]]" {
					t.Errorf("resources %v", out["resources"])
				}
			}},
		{"lookup subjects", "POST", "/api/lookup/subjects", map[string]any{"state": gifting, "resource": "send:s1", "permission": "cancel", "subject_type": "user"}, 200,
			func(t *testing.T, out map[string]any) {
				if fmt.Sprint(out["subjects"]) != "[map[id:user:dana result:allowed] map[id:user:olivia result:allowed] map[id:user:uma result:allowed]]" {
					t.Errorf("subjects %v", out["subjects"])
				}
			}},
		{"expand", "POST", "/api/expand", map[string]any{"state": gifting, "resource": "send:s1", "permission": "cancel"}, 200,
			func(t *testing.T, out map[string]any) {
				if get(out, "tree", "label") != "send:s1#cancel" || !strings.Contains(get(out, "text").(string), "user:uma") {
					t.Errorf("expand %v", out)
				}
			}},
		{"matrix of a type", "POST", "/api/matrix", map[string]any{"state": gifting, "targets": []string{"send"}, "subjects": []string{"user:olivia", "user:uma"}, "permissions": []string{"cancel"}}, 200,
			func(t *testing.T, out map[string]any) {
				if fmt.Sprint(get(out, "rows", 1)) != "map[cells:[allowed allowed] permission:cancel resource:send:s1]" {
					t.Errorf("rows %v", get(out, "rows"))
				}
			}},
		{"matrix without subjects", "POST", "/api/matrix", map[string]any{"state": gifting, "targets": []string{"send"}, "subjects": []string{}}, 400, nil},
		{"impact", "POST", "/api/impact", map[string]any{"state": changed, "baseline": gifting.Schema}, 200,
			func(t *testing.T, out map[string]any) {
				if get(out, "total") != 4.0 || get(out, "impact", "cells", 1, "resource") != "send:s1" || get(out, "impact", "cells", 1, "subject") != "user:uma" ||
					!strings.Contains(get(out, "impact", "changes", 0).(string), "permission send#cancel: expression changed") {
					t.Errorf("impact %v", out)
				}
			}},
		{"impact from a broken baseline", "POST", "/api/impact", map[string]any{"state": changed, "baseline": broken.Schema}, 400, nil},
		{"parse a file", "POST", "/api/file/parse", map[string]any{"yaml": "schema: |\n  definition user {}\nrelationships: |\n  // none\nassertions:\n  # a comment\n  assertTrue: []\n"}, 200,
			func(t *testing.T, out map[string]any) {
				if get(out, "state", "schema") != "definition user {}\n" || get(out, "state", "assertions") != "# a comment\nassertTrue: []" {
					t.Errorf("state %v", out)
				}
			}},
		{"parse a file naming its schema file", "POST", "/api/file/parse", map[string]any{"yaml": "schemaFile: m.zed\n"}, 400, nil},
		{"parse a file with its schema file", "POST", "/api/file/parse", map[string]any{"yaml": "schemaFile: m.zed\n", "files": map[string]string{"m.zed": "definition user {}"}}, 200, nil},
		{"page", "GET", "/", nil, 200, func(t *testing.T, out map[string]any) {
			if !strings.Contains(out["raw"].(string), "reach playground") {
				t.Errorf("page %v", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := call(t, ts, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, out)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

// TestSeedsRoundTrip: every seed loads, passes its assertions, and saves to
// a validation file that reads back to the same state and passes reach's
// own validation.
func TestSeedsRoundTrip(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			status, out := call(t, ts, "GET", "/api/seeds/"+name, nil)
			if status != 200 {
				t.Fatal(out)
			}
			var st State
			b, _ := json.Marshal(out["state"])
			json.Unmarshal(b, &st)
			status, out = call(t, ts, "POST", "/api/file/save", st)
			if status != 200 {
				t.Fatal(out)
			}
			saved := out["yaml"].(string)
			back, err := fileToState("saved.yaml", []byte(saved), nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(back.Schema) != strings.TrimSpace(st.Schema) || strings.TrimSpace(back.Relationships) != strings.TrimSpace(st.Relationships) || back.Assertions != st.Assertions {
				t.Errorf("the saved file reads back differently")
			}
			dir := t.TempDir()
			path := dir + "/" + name + ".yaml"
			os.WriteFile(path, []byte(saved), 0o644)
			res, err := validation.RunPath(t.Context(), path, validation.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if passed, failed := res.Counts(); res.Status != validation.Passed || failed != 0 || passed < 50 {
				t.Errorf("saved file: %s, %d passed, %d failed: %s", res.Status, passed, failed, res.Error)
			}
		})
	}
}

// TestPresetsMatchReachMatrix: the first preset of gifting is the table
// reach matrix prints (cmd/reach/testdata/matrix/gifting.md.golden).
func TestPresetsMatchReachMatrix(t *testing.T) {
	ts := newTestServer(t, Options{})
	golden, err := os.ReadFile("../cmd/reach/testdata/matrix/gifting.md.golden")
	if err != nil {
		t.Fatal(err)
	}
	p := seedPresets["gifting"][2] // the whole detailed matrix
	status, out := call(t, ts, "POST", "/api/matrix", map[string]any{"state": seedState(t, "gifting"), "targets": p.Targets, "subjects": p.Subjects})
	if status != 200 {
		t.Fatal(out)
	}
	icon := map[string]string{"allowed": "✅", "denied": "🚫", "conditional": "❓"}
	var b strings.Builder
	b.WriteString("| resource | permission |")
	for _, s := range p.Subjects {
		b.WriteString(" " + s + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat(":---:|", len(p.Subjects)) + "\n")
	for _, r := range get(out, "rows").([]any) {
		fmt.Fprintf(&b, "| %s | %s |", get(r, "resource"), get(r, "permission"))
		for _, c := range get(r, "cells").([]any) {
			b.WriteString(" " + icon[c.(string)] + " |")
		}
		b.WriteString("\n")
	}
	if b.String() != string(golden) {
		t.Errorf("the playground's matrix differs from reach matrix's:\n%s", b.String())
	}
}

func TestLimits(t *testing.T) {
	gifting := seedState(t, "gifting")
	many := gifting
	var rels strings.Builder
	for i := range 30 {
		fmt.Fprintf(&rels, "send:x%d#sender@user:u%d\n", i, i)
	}
	many.Relationships = rels.String()
	tests := []struct {
		name   string
		opts   Options
		body   any
		status int
	}{
		{"body too large", Options{MaxBody: 1000}, gifting, 413},
		{"too many relationships", Options{MaxRelationships: 20}, many, 413},
		{"past the deadline", Options{Timeout: time.Nanosecond}, gifting, 504},
		{"within the limits", Options{MaxRelationships: 30}, many, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts)
			status, out := call(t, ts, "POST", "/api/analyze", tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d: %v", status, tt.status, out)
			}
		})
	}
}

// TestEnvCache: a state is loaded once and shared; evicted ones are closed
// when their last user is done.
func TestEnvCache(t *testing.T) {
	c := newEnvCache(1)
	loads := 0
	load := func() (*validation.Env, error) {
		loads++
		f := &validation.File{Path: "x", Schema: "definition user {}", SchemaName: "x.zed"}
		return validation.Load(t.Context(), f, validationEngineOptions)
	}
	e1, r1, err := c.get("a", load)
	if err != nil {
		t.Fatal(err)
	}
	e2, r2, _ := c.get("a", load)
	if e1 != e2 || loads != 1 {
		t.Fatalf("not shared: %d loads", loads)
	}
	_, r3, _ := c.get("b", load) // evicts a, still in use
	if _, err := e1.Store.HeadRevision(t.Context()); err != nil {
		t.Fatalf("an env in use was closed: %v", err)
	}
	r1()
	r2()
	r3()
	c.closeAll()
}

var validationEngineOptions = validation.DefaultOptions().Engine

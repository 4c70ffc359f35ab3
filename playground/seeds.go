package playground

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/reach-authz/reach/schemas"
)

// seedTitles name the seed models in the menu (../shared/seeds/INDEX.md).
var seedTitles = map[string]string{
	"gifting":         "Corporate gifting portal (seed 000)",
	"email_marketing": "Email marketing: administrator roles (seed 001)",
	"marketing_suite": "Marketing suite: user groups (seed 002)",
	"organizing":      "Campaign organising tool (seed 003)",
	"catalogue":       "Catalogue and presentations (seed 004)",
}

// Preset is a matrix the page offers for a model: the seed article's own
// table (the arguments of `reach matrix` that print it in
// schemas/README.md).
type Preset struct {
	Title       string   `json:"title"`
	Targets     []string `json:"targets"`
	Subjects    []string `json:"subjects"`
	Permissions []string `json:"permissions,omitempty"`
}

func people(s string) []string { return strings.Split(s, ",") }

const (
	organizingPeople = "user:olga,user:ada,user:adam,user:stan,user:sara,user:seth,user:sue,user:vic,user:val,user:tom,user:tess,user:vera"
	cataloguePeople  = "user:ann,user:abe,user:sal,user:sam,user:pia,user:pat,user:dee,user:max,user:mo,user:gail"
)

// seedPresets are the tables of schemas/README.md, per model.
var seedPresets = map[string][]Preset{
	"gifting": {
		{Title: "Sends (detailed matrix)", Targets: []string{"send:s1", "send:s2", "send:s3"}, Subjects: people("user:olivia,user:dana,user:uma,user:sam,user:steve,user:gary")},
		{Title: "Organization acme", Targets: []string{"organization:acme"}, Subjects: people("user:olivia,user:dana,user:uma,user:sam,user:steve,user:gary")},
		{Title: "Whole detailed matrix", Targets: []string{"organization:acme", "department:sales", "user:uma", "send", "one_link:ol_sales", "automated_campaign:ac1",
			"budget", "inventory_item:inv_sales", "campaign:c_sales", "template:t_sales", "business_reason:br_acme", "claim_link_template:cl_sales"},
			Subjects: people("user:olivia,user:dana,user:uma,user:sam,user:steve,user:gary")},
		{Title: "Organization globex (setting off)", Targets: []string{"organization:globex"}, Subjects: people("user:gary,user:gina,user:gus,user:olivia")},
	},
	"email_marketing": {
		{Title: "Account acme: every role", Targets: []string{"account:acme"}, Subjects: people("user:alice,user:vera,user:eddie,user:ivan,user:nora,user:sid,user:gail")},
		{Title: "Account globex (licences off)", Targets: []string{"account:globex"}, Subjects: people("user:gail,user:alice")},
		{Title: "Who assigns and edits roles", Targets: []string{"role"}, Permissions: []string{"assign", "edit"}, Subjects: people("user:sid,user:alice,user:nora,user:gail")},
	},
	"marketing_suite": {
		{Title: "Site and email tasks", Targets: []string{"site:main", "email_group:eg_main", "email"},
			Subjects: people("user:mary,user:adam,user:april,user:paul,user:mark,user:lisa,user:ian,user:molly,user:nick,user:oscar")},
	},
	"organizing": {
		{Title: "Campaigns", Targets: []string{"campaign:rally", "campaign:townhall"}, Subjects: people(organizingPeople)},
		{Title: "Managing memberships", Targets: []string{"membership"}, Permissions: []string{"manage"}, Subjects: people(organizingPeople)},
		{Title: "Broadcasts", Targets: []string{"broadcast"}, Subjects: people(organizingPeople)},
	},
	"catalogue": {
		{Title: "Organization", Targets: []string{"organization:acme"}, Permissions: []string{"edit_settings", "manage_users", "create_brand", "create_personal_template", "order_templates", "create_lookbook", "create_presentation"}, Subjects: people(cataloguePeople)},
		{Title: "Brands", Targets: []string{"brand"}, Permissions: []string{"view", "use", "edit", "delete"}, Subjects: people(cataloguePeople)},
		{Title: "Templates", Targets: []string{"template"}, Permissions: []string{"view", "edit", "convert_to_org", "publish"}, Subjects: people(cataloguePeople)},
		{Title: "Lookbooks", Targets: []string{"lookbook"}, Permissions: []string{"view", "archive", "convert_from_test"}, Subjects: people(cataloguePeople)},
		{Title: "Presentations", Targets: []string{"presentation"}, Permissions: []string{"view", "edit", "delete"}, Subjects: people(cataloguePeople)},
	},
}

type seedInfo struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

func (s *Server) handleSeeds(w http.ResponseWriter, r *http.Request) {
	out := []seedInfo{}
	for _, n := range schemas.Names() {
		t := seedTitles[n]
		if t == "" {
			t = n
		}
		out = append(out, seedInfo{n, t})
	}
	writeJSON(w, http.StatusOK, out)
}

// seedResponse is a seed model as a state, with its matrix presets.
type seedResponse struct {
	Name    string   `json:"name"`
	Title   string   `json:"title"`
	State   State    `json:"state"`
	Presets []Preset `json:"presets"`
}

func (s *Server) handleSeed(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !slices.Contains(schemas.Names(), name) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no seed model %q (known: %s)", name, strings.Join(schemas.Names(), ", "))})
		return
	}
	data, err := fs.ReadFile(schemas.FS, name+".yaml")
	if err == nil {
		var st State
		st, err = fileToState(name+".yaml", data, func(n string) ([]byte, error) { return fs.ReadFile(schemas.FS, path.Clean(n)) })
		if err == nil {
			writeJSON(w, http.StatusOK, seedResponse{Name: name, Title: seedTitles[name], State: st, Presets: emptyIfNil(seedPresets[name])})
			return
		}
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}

// fileToState reads a validation file into the editors' texts: the schema
// (inline, or the schemaFile read with readSchema), the relationships
// block as written (comments kept), and the assertions and validation
// blocks as written (their YAML, comments kept).
func fileToState(name string, data []byte, readSchema func(string) ([]byte, error)) (State, error) {
	var st State
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return st, badRequest("%s: %v", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return st, badRequest("%s: not a validation file (a mapping with schema, relationships, assertions)", name)
	}
	root := doc.Content[0]
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		end := len(lines) + 1 // the line after the block
		if i+2 < len(root.Content) {
			end = root.Content[i+2].Line
		}
		switch k.Value {
		case "schema":
			st.Schema = v.Value
		case "schemaFile":
			if readSchema == nil {
				return st, badRequest("%s names schemaFile %q: open it together with the YAML file (select both), or inline the schema", name, v.Value)
			}
			src, err := readSchema(v.Value)
			if err != nil {
				return st, badRequest("%s: schemaFile %q: %v (open it together with the YAML file)", name, v.Value, err)
			}
			st.Schema = string(src)
		case "relationships":
			st.Relationships = v.Value
		case "assertions":
			st.Assertions = rawBlock(lines, k, v, end)
		case "validation":
			st.Validation = rawBlock(lines, k, v, end)
		default:
			return st, badRequest("%s:%d: unknown key %q (want schema, schemaFile, relationships, assertions or validation)", name, k.Line, k.Value)
		}
	}
	return st, nil
}

// rawBlock is the text of a block mapping value as written (lines after
// its key up to the next key, outdented, trailing blank lines dropped), so
// that its comments stay; a value on the key's line is re-encoded.
func rawBlock(lines []string, k, v *yaml.Node, end int) string {
	if v.Tag == "!!null" {
		return ""
	}
	if v.Line == k.Line || v.Kind != yaml.MappingNode {
		b, _ := yaml.Marshal(v)
		return strings.TrimRight(string(b), "\n")
	}
	block := lines[k.Line : end-1] // lines k.Line+1 .. end-1 (1-based)
	for len(block) > 0 && strings.TrimSpace(block[len(block)-1]) == "" {
		block = block[:len(block)-1]
	}
	// A comment at column 1 just before the next key belongs to that key.
	for len(block) > 0 && strings.HasPrefix(block[len(block)-1], "#") {
		block = block[:len(block)-1]
	}
	indent := -1
	for _, l := range block {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	out := make([]string, len(block))
	for i, l := range block {
		if len(l) >= indent && indent > 0 {
			l = l[indent:]
		}
		out[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.Join(out, "\n")
}

// stateToFile writes a state as a validation file.
func stateToFile(st State) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	scalar := func(key, value string) {
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(value, "\n"), "\n") {
			lines = append(lines, strings.TrimRight(l, " \t\r"))
		}
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: key},
			&yaml.Node{Kind: yaml.ScalarNode, Value: strings.Join(lines, "\n") + "\n", Style: yaml.LiteralStyle})
	}
	scalar("schema", st.Schema)
	scalar("relationships", st.Relationships)
	b, err := yaml.Marshal(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}})
	if err != nil {
		return nil, err
	}
	out := string(b)
	block := func(key, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		out += key + ":\n"
		for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			if strings.TrimSpace(l) == "" {
				out += "\n"
				continue
			}
			out += "  " + l + "\n"
		}
	}
	block("assertions", st.Assertions)
	block("validation", st.Validation)
	// What was written must read back.
	if _, err := fileToState("saved.yaml", []byte(out), nil); err != nil {
		return nil, fmt.Errorf("the assertions or validation block is not valid YAML: %w", err)
	}
	return []byte(out), nil
}

type parseFileRequest struct {
	Name string `json:"name"`
	YAML string `json:"yaml"`
	// Files are other files opened with it (a schemaFile), by base name.
	Files map[string]string `json:"files,omitempty"`
}

func (s *Server) parseFile(ctx context.Context, body json.RawMessage) (any, error) {
	var req parseFileRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	name := req.Name
	if name == "" {
		name = "file.yaml"
	}
	var read func(string) ([]byte, error)
	if len(req.Files) > 0 {
		read = func(n string) ([]byte, error) {
			if src, ok := req.Files[path.Base(n)]; ok {
				return []byte(src), nil
			}
			return nil, fmt.Errorf("not among the files opened")
		}
	}
	st, err := fileToState(name, []byte(req.YAML), read)
	if err != nil {
		return nil, err
	}
	return map[string]any{"state": st}, nil
}

func (s *Server) saveFile(ctx context.Context, body json.RawMessage) (any, error) {
	var st State
	if err := decode(body, &st); err != nil {
		return nil, err
	}
	out, err := stateToFile(st)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return map[string]string{"yaml": string(out)}, nil
}

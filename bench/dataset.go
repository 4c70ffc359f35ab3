package bench

import (
	"context"
	"embed"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

//go:embed schemas/*.zed
var schemaFiles embed.FS

// Dataset is a deterministic, seed-shaped body of relationships and the
// queries that exercise it. Everything a Dataset returns is a pure function
// of its seed, its target size and the random source passed in.
type Dataset interface {
	// Name is the dataset's name ("gifting", "campaigns").
	Name() string
	// Schema is the schema the relationships are written under.
	Schema() (filename string, src []byte)
	// Relationships is the exact number of relationships Generate emits.
	Relationships() int64
	// Generate calls emit with every relationship, in a fixed order, and
	// stops at the first error (returned, wrapped). It keeps nothing: the
	// memory it uses does not grow with the dataset.
	Generate(ctx context.Context, emit func(tuples.Relationship) error) error

	// CheckClasses names the kinds of check queries (for example "depth 3
	// allowed"); Check returns a random query of class i, with its answer.
	CheckClasses() []string
	Check(r *rand.Rand, class int) CheckQuery
	// LookupResourcesClasses and LookupResources: the same for
	// LookupResources.
	LookupResourcesClasses() []string
	LookupResources(r *rand.Rand, class int) engine.LookupResourcesRequest
	// LookupSubjectsClasses and LookupSubjects: the same for LookupSubjects.
	LookupSubjectsClasses() []string
	LookupSubjects(r *rand.Rand, class int) engine.LookupSubjectsRequest
	// Write returns a write that adds a new object (named after n, which
	// the caller keeps unique) and the write that removes it again. The new
	// object changes no answer of Check's queries.
	Write(r *rand.Rand, n uint64) (add, remove []tuples.Update)
}

// CheckQuery is a check and the answer the data gives it.
type CheckQuery struct {
	Req   engine.CheckRequest
	Want  engine.Permissionship
	Class int
}

// datasets are the known datasets by name.
var datasets = map[string]func(seed uint64, target int64) Dataset{
	"gifting":   func(seed uint64, target int64) Dataset { return NewGifting(seed, target) },
	"campaigns": func(seed uint64, target int64) Dataset { return NewCampaigns(seed, target) },
}

// Datasets lists the names NewDataset accepts.
func Datasets() []string {
	names := make([]string, 0, len(datasets))
	for n := range datasets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewDataset returns the dataset called name, sized to about target
// relationships (at least one top-level unit: an organisation or account).
func NewDataset(name string, seed uint64, target int64) (Dataset, error) {
	f, ok := datasets[name]
	if !ok {
		return nil, fmt.Errorf("unknown dataset %q (known: %v)", name, Datasets())
	}
	if target < 1 {
		return nil, fmt.Errorf("dataset %s: target of %d relationships: want at least 1", name, target)
	}
	return f(seed, target), nil
}

func mustSchema(name string) []byte {
	b, err := schemaFiles.ReadFile("schemas/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// ident builds an object id from one letter per number: ident("odu", 3, 1,
// 7) is "o3_d1_u7". Ids are short and hierarchical so that a query can name
// any object from its indices.
func ident(letters string, nums ...int) string {
	b := make([]byte, 0, 4*len(nums)+8)
	for i, n := range nums {
		if i > 0 {
			b = append(b, '_')
		}
		b = append(b, letters[i])
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

func rel(rt, rid, relation, st, sid, srel string) tuples.Relationship {
	return tuples.Relationship{ResourceType: rt, ResourceID: rid, Relation: relation, SubjectType: st, SubjectID: sid, SubjectRelation: srel}
}

func allowedIf(b bool) engine.Permissionship {
	if b {
		return engine.Allowed
	}
	return engine.Denied
}

// touches and deletes turn relationships into updates.
func updates(op tuples.UpdateOp, rels ...tuples.Relationship) []tuples.Update {
	u := make([]tuples.Update, len(rels))
	for i, r := range rels {
		u[i] = tuples.Update{Op: op, Relationship: r}
	}
	return u
}

package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reach-authz/reach/tuples"
)

// ErrMaxDepth is wrapped by the error a request returns when its walk goes
// deeper than Options.MaxDepth (SpiceDB: FailedPrecondition with reason
// ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED).
var ErrMaxDepth = errors.New("maximum depth exceeded")

// ErrNegativeCycle is wrapped by the error of a check whose answer depends
// on itself through the subtracted side of an exclusion (for example
// `permission view = viewer - parent->view` over data where a folder is its
// own parent): such data has no consistent answer. SpiceDB walks the cycle
// until its maximum depth; reach detects it.
var ErrNegativeCycle = errors.New("the permission depends on itself through an exclusion")

// ErrNoSchema is wrapped when the store holds no schema at the revision read.
var ErrNoSchema = errors.New("no schema has been written")

// ErrUnknown is wrapped when a request names a type, relation or permission
// the schema does not define (SpiceDB: FailedPrecondition).
var ErrUnknown = errors.New("not defined in the schema")

// ErrWildcardSubject is wrapped when a check names a wildcard (type:*) as
// its subject (SpiceDB: "cannot perform check on wildcard subject").
var ErrWildcardSubject = errors.New("a wildcard cannot be the subject of a check")

// ErrTooManyResults is wrapped when a lookup would have to hold more
// results in memory than Options.MaxLookupResults allows to answer
// correctly (the exclusions of a wildcard LookupSubjects reports).
var ErrTooManyResults = errors.New("too many results to hold")

// ErrBadCursor is wrapped when a lookup cursor cannot be read.
var ErrBadCursor = errors.New("invalid cursor")

// Object is a resource or subject object: type:id.
type Object struct{ Type, ID string }

func (o Object) String() string { return o.Type + ":" + o.ID }

// Subject is the subject of a check: type:id, or the subject set
// type:id#relation when Relation is not "".
type Subject struct{ Type, ID, Relation string }

func (s Subject) String() string {
	if s.Relation == "" {
		return s.Type + ":" + s.ID
	}
	return s.Type + ":" + s.ID + "#" + s.Relation
}

// ParseObject reads "type:id".
func ParseObject(s string) (Object, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok || typ == "" || id == "" || strings.ContainsAny(typ, "#@ ") || strings.ContainsAny(id, "#@ ") {
		return Object{}, fmt.Errorf("invalid object %q: want type:id", s)
	}
	return Object{typ, id}, nil
}

// ParseSubject reads "type:id" or "type:id#relation" ("type:id#..." is the
// same as "type:id").
func ParseSubject(s string) (Subject, error) {
	obj, rel, hasRel := strings.Cut(s, "#")
	o, err := ParseObject(obj)
	if err != nil || (hasRel && rel == "") {
		return Subject{}, fmt.Errorf("invalid subject %q: want type:id or type:id#relation", s)
	}
	if rel == tuples.Ellipsis {
		rel = ""
	}
	return Subject{o.Type, o.ID, rel}, nil
}

// ConsistencyMode says which revision a request reads.
type ConsistencyMode uint8

const (
	// MinimizeLatency reads a recent revision shared by every request in
	// the same quantization window, for the best cache use.
	MinimizeLatency ConsistencyMode = iota
	// AtLeastAsFresh reads a revision at least as new as Token.
	AtLeastAsFresh
	// AtExactSnapshot reads exactly the revision of Token (an error if it is
	// older than the store's garbage-collection window: the store's
	// Snapshot fails with tuples.ErrRevisionTooOld).
	AtExactSnapshot
	// FullyConsistent reads the newest revision.
	FullyConsistent
)

var consistencyNames = []string{"minimize_latency", "at_least_as_fresh", "at_exact_snapshot", "fully_consistent"}

func (m ConsistencyMode) String() string {
	if int(m) < len(consistencyNames) {
		return consistencyNames[m]
	}
	return fmt.Sprintf("ConsistencyMode(%d)", m)
}

// ParseConsistencyMode reads one of minimize_latency, at_least_as_fresh,
// at_exact_snapshot, fully_consistent.
func ParseConsistencyMode(s string) (ConsistencyMode, error) {
	for i, n := range consistencyNames {
		if n == s {
			return ConsistencyMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown consistency %q (want %s)", s, strings.Join(consistencyNames, ", "))
}

// Consistency is a request's consistency requirement. Token is a revision
// token (tuples.Revision.Token) for AtLeastAsFresh and AtExactSnapshot.
type Consistency struct {
	Mode  ConsistencyMode
	Token string
}

// Permissionship is the answer to a check.
type Permissionship uint8

const (
	// Denied: the subject does not reach the permission.
	Denied Permissionship = iota
	// Conditional: the subject reaches it only through caveated
	// relationships whose caveats the request's context does not decide
	// (it lacks some of their parameters).
	Conditional
	// Allowed: the subject reaches the permission.
	Allowed
)

func (p Permissionship) String() string {
	switch p {
	case Denied:
		return "denied"
	case Conditional:
		return "conditional"
	case Allowed:
		return "allowed"
	}
	return fmt.Sprintf("Permissionship(%d)", p)
}

// Options configure an Engine. The zero value gives the defaults.
type Options struct {
	// MaxDepth bounds the nesting of a walk (default 50).
	MaxDepth int
	// CacheMaxBytes bounds the memory of the check cache (default 256 MiB),
	// taken when the Engine is made; pages are resident only once the
	// cache writes them. A negative value turns the cache off.
	CacheMaxBytes int64
	// CacheSize, when positive, also bounds the number of sub-problem
	// results the check cache keeps; given alone, it sizes the cache at
	// 128 bytes a result. A negative value turns the cache off.
	CacheSize int
	// Quantization is the minimize_latency window (default 5s); a negative
	// value makes minimize_latency read the newest revision.
	Quantization time.Duration
	// MaxLookupResults bounds the subjects one LookupSubjectsStream holds
	// in memory (default 100,000): the ids given so far, remembered to
	// give each once (past the bound, the walk reads the store instead),
	// and the exclusions of a wildcard (past the bound, the lookup fails
	// with ErrTooManyResults).
	MaxLookupResults int
	// DisableGroupIndex turns the group index off (see groupindex.go):
	// by default, on a store with a change feed (every datastore) and a
	// schema where groups nest, the engine keeps the transitive closure
	// of the nested groups in memory and answers "is ana in group G, at
	// any depth?" with one lookup instead of a walk.
	DisableGroupIndex bool
	// GroupIndexMaxBytes bounds the memory of the group index (default
	// 512 MiB, estimated): an index that would pass it is dropped, and
	// checks walk.
	GroupIndexMaxBytes int64
}

const (
	defaultMaxDepth     = 50
	defaultQuantization = 5 * time.Second
)

// DefaultMaxLookupResults is Options.MaxLookupResults when it is 0.
const DefaultMaxLookupResults = 100_000

// DefaultCacheMaxBytes is the memory of the check cache when
// Options.CacheMaxBytes is 0 and Options.CacheSize not positive.
const DefaultCacheMaxBytes = 256 << 20

// CheckRequest asks whether Subject reaches Permission (a permission or a
// relation) on Resource.
type CheckRequest struct {
	Resource    Object
	Permission  string
	Subject     Subject
	Consistency Consistency
	// Context is the caveat context given with the request. Each caveated
	// relationship met is evaluated with it merged under the
	// relationship's own context (which wins for a name both give): a true
	// caveat counts as no caveat, a false one as no relationship, and one
	// lacking parameters makes the answer Conditional. A check with a
	// context does not use the shared cache.
	Context map[string]any
	// Explain asks for the proof (or the branches tried) in the result. An
	// explained check bypasses the cache so that the proof is complete.
	Explain bool
}

// CheckResult is the answer to a CheckRequest.
type CheckResult struct {
	Permissionship Permissionship
	Revision       tuples.Revision
	// Explanation is the proof (Allowed), the conditional paths
	// (Conditional) or the branches tried (Denied), when asked for. A later
	// version will add the partially evaluated caveat expression beside it.
	Explanation *Explanation
	// Missing lists, for a Conditional answer, the caveat parameters
	// (sorted) whose values the context lacked on the conditional paths
	// (SpiceDB's partial_caveat_info.missing_required_context): those of
	// every path that makes the answer Conditional (every operand of a
	// union, intersection or exclusion that is Conditional, the caveat of
	// each relationship on the way and those below it), whatever the order
	// the paths were tried in and whichever way the check walked.
	Missing []string
}

// LookupResourcesRequest asks which resources of ResourceType the Subject
// reaches through Permission.
type LookupResourcesRequest struct {
	ResourceType string
	Permission   string
	Subject      Subject
	Consistency  Consistency
	Context      map[string]any
	// Limit is the most results to return (0: all). When the limit cuts
	// the results short, LookupResources returns a cursor to continue.
	Limit int
	// Cursor continues a previous lookup, at the revision it read.
	Cursor string
}

// LookupResult is one resource found by LookupResources.
type LookupResult struct {
	ResourceID     string
	Permissionship Permissionship // Allowed or Conditional
	Missing        []string       // Conditional: as CheckResult.Missing
}

// LookupSubjectsRequest asks which subjects of SubjectType (with
// SubjectRelation, "" for plain objects) reach Permission on Resource.
type LookupSubjectsRequest struct {
	Resource        Object
	Permission      string
	SubjectType     string
	SubjectRelation string
	Consistency     Consistency
	Context         map[string]any
}

// FoundSubject is one subject found by LookupSubjects. ID "*" is the
// wildcard (every subject of the type), with Excluded listing the subjects
// it does not cover.
type FoundSubject struct {
	ID             string
	Permissionship Permissionship
	Excluded       []string
	Missing        []string // Conditional: as CheckResult.Missing
}

// wildcardID is the subject id of a wildcard relationship (type:*).
const wildcardID = "*"

package schema

// Program is the compiled, immutable form of a schema: what the engine walks.
//
// A Program is built only by Compile, after every check has passed, so the
// engine may rely on its invariants: every type, relation, permission and
// caveat it names exists; every permission's Rewrite is well formed; arrows
// start from relations (never permissions). A Program is safe for concurrent
// use and must not be modified.
type Program struct {
	defs          []*Definition
	defsByName    map[string]*Definition
	caveats       []*Caveat
	caveatsByName map[string]*Caveat
	useExpiration bool
	hash          string
	source        string
}

// Definitions returns the object definitions in source order.
func (p *Program) Definitions() []*Definition { return p.defs }

// Definition returns the definition named name (with its prefix, as in
// "org/document"), or nil.
func (p *Program) Definition(name string) *Definition { return p.defsByName[name] }

// Caveats returns the caveat definitions in source order.
func (p *Program) Caveats() []*Caveat { return p.caveats }

// Caveat returns the caveat named name, or nil.
func (p *Program) Caveat(name string) *Caveat { return p.caveatsByName[name] }

// UsesExpiration reports whether the schema enables `use expiration`.
func (p *Program) UsesExpiration() bool { return p.useExpiration }

// Hash is a stable content hash of the compiled model: equal for schemas that
// differ only in layout or comments, different when any rule differs.
func (p *Program) Hash() string { return p.hash }

// Source is the canonical text of the schema (the printer's output).
func (p *Program) Source() string { return p.source }

// Lookup returns the relation or permission rel on type typ, or nil.
func (p *Program) Lookup(typ, rel string) *Relation {
	d := p.defsByName[typ]
	if d == nil {
		return nil
	}
	return d.byName[rel]
}

// Definition is one `definition name { ... }` block.
type Definition struct {
	Name      string
	Relations []*Relation // relations and permissions, in source order
	Pos       Position
	Doc       string // doc comment above the definition, if any

	byName map[string]*Relation
}

// Relation returns the relation or permission named name, or nil.
func (d *Definition) Relation(name string) *Relation { return d.byName[name] }

// Kind tells a stored relation from a computed permission.
type Kind uint8

const (
	// KindRelation is `relation name: T | ...`: it holds tuples.
	KindRelation Kind = iota + 1
	// KindPermission is `permission name = expr`: it is computed.
	KindPermission
)

func (k Kind) String() string {
	switch k {
	case KindRelation:
		return "relation"
	case KindPermission:
		return "permission"
	}
	return "unknown"
}

// Relation is a relation or a permission of a definition.
type Relation struct {
	Definition string // the owning definition's name
	Name       string
	Kind       Kind
	Allowed    []AllowedType // KindRelation only: the allowed subject types, in source order
	Rewrite    *Rewrite      // KindPermission only
	Pos        Position
	Doc        string
}

// Allows reports whether a subject of type typ with subject relation subRel
// ("" for a plain object) may be written to this relation, ignoring caveats
// and expiration. wildcard asks about `typ:*`.
func (r *Relation) Allows(typ, subRel string, wildcard bool) bool {
	for _, a := range r.Allowed {
		if a.Type == typ && a.Relation == subRel && a.Wildcard == wildcard {
			return true
		}
	}
	return false
}

// AllowedType is one alternative of a relation's type list: `user`,
// `group#member`, `user:*`, `user with caveat`, `user with expiration`.
type AllowedType struct {
	Type       string // the subject definition
	Relation   string // subject relation for `T#rel`; "" otherwise
	Wildcard   bool   // `T:*`
	Caveat     string // `with caveat`; "" for none
	Expiration bool   // `with expiration`
	Pos        Position
}

// Op is the operation of a rewrite node.
type Op uint8

const (
	// OpNil is `nil`: the empty set.
	OpNil Op = iota + 1
	// OpComputed is a reference to another relation or permission of the
	// same object (a computed userset): Relation names it.
	OpComputed
	// OpArrow is `Relation->Target` (also `Relation.any(Target)`): for each
	// subject s of the relation Relation on this object, s#Target.
	OpArrow
	// OpArrowAll is `Relation.all(Target)`: the intersection over every
	// subject s of Relation of s#Target (empty when Relation has no subject).
	OpArrowAll
	// OpUnion is Children[0] + Children[1] + ...
	OpUnion
	// OpIntersection is Children[0] & Children[1] & ...
	OpIntersection
	// OpExclusion is Children[0] - Children[1] (exactly two children;
	// `a - b - c` compiles to (a - b) - c).
	OpExclusion
)

func (o Op) String() string {
	switch o {
	case OpNil:
		return "nil"
	case OpComputed:
		return "computed"
	case OpArrow:
		return "arrow"
	case OpArrowAll:
		return "arrow-all"
	case OpUnion:
		return "union"
	case OpIntersection:
		return "intersection"
	case OpExclusion:
		return "exclusion"
	}
	return "unknown"
}

// Rewrite is a node of a permission's expression tree.
type Rewrite struct {
	Op       Op
	Relation string     // OpComputed: the relation or permission; OpArrow/OpArrowAll: the tupleset relation (left side)
	Target   string     // OpArrow/OpArrowAll: the relation or permission reached on each subject
	Children []*Rewrite // OpUnion, OpIntersection (2 or more), OpExclusion (exactly 2)
	Pos      Position
}

// Position is a place in a schema source.
type Position struct {
	File   string
	Line   int // 1-based
	Column int // 1-based, in bytes
	Offset int // 0-based byte offset
}

// Caveat is a `caveat name(params) { expression }` definition. The
// expression is kept as CEL source text; evaluating it is the engine's job.
type Caveat struct {
	Name   string
	Params []CaveatParam // in source order
	Expr   string        // the CEL expression, as written between the braces (trimmed)
	Pos    Position
	Doc    string
}

// CaveatParam is one typed parameter of a caveat.
type CaveatParam struct {
	Name string
	Type string // canonical type text: "int", "string", "list<string>", "map<int>", "ipaddress", ...
}

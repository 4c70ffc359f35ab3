package tuples

import "time"

// Relationship is one relationship tuple:
// resource_type:resource_id#relation@subject_type:subject_id[#subject_relation],
// with an optional caveat and an optional expiration.
type Relationship struct {
	ResourceType    string
	ResourceID      string
	Relation        string
	SubjectType     string
	SubjectID       string     // "*" for a wildcard
	SubjectRelation string     // "" for a plain subject
	Caveat          *Caveat    // nil when the relationship has no caveat
	Expiration      *time.Time // nil when it never expires
}

// Caveat is the caveat attached to a relationship, with its stored context.
type Caveat struct {
	Name    string
	Context map[string]any // decoded JSON object; nil when none was given
}

// IsWildcard reports whether the subject is `type:*`.
func (r Relationship) IsWildcard() bool { return r.SubjectID == "*" }

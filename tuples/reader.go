package tuples

import "github.com/reach-authz/reach/schema"

// Snapshot is a consistent, read-only view of the store at one revision: the
// interface the engine walks. Implementations must skip relationships whose
// expiration has passed (they are treated as absent) and return caveated
// relationships with their Caveat set. A Snapshot is used by one request at a
// time, but several snapshots may be open at once.
type Snapshot interface {
	// Revision is the revision this snapshot reads at.
	Revision() Revision

	// Schema is the schema in force at this revision (nil if none was written).
	Schema() *schema.Program

	// Get returns the relationship with exactly these six fields, if present.
	Get(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation string) (Relationship, bool, error)

	// Subjects calls fn for every relationship of resourceType:resourceID#relation
	// (the forward index), in key order, until fn returns false. When
	// subjectType is not "", only subjects of that type with that exact
	// subjectRelation ("" meaning plain subjects and wildcards) are visited.
	Subjects(resourceType, resourceID, relation, subjectType, subjectRelation string, fn func(Relationship) bool) error

	// Resources calls fn for every relationship whose subject is exactly
	// subjectType:subjectID#subjectRelation and whose resource is of
	// resourceType through relation (the reverse index), until fn returns
	// false. Wildcard relationships are found with subjectID "*".
	Resources(subjectType, subjectID, subjectRelation, resourceType, relation string, fn func(Relationship) bool) error

	// Close releases the snapshot.
	Close()
}

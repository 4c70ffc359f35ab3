// Package engine answers permission questions over a schema and a store of
// relationships: Check ("does this subject reach this permission on this
// resource?"), CheckBulk, Expand, LookupResources and LookupSubjects.
//
// It sits at the end of reach's pipeline: the schema package compiles the
// SpiceDB-language text into a schema.Program, the tuples package stores
// relationships in Badger and hands out read-only snapshots at a revision
// (tuples.Snapshot), and the engine walks the Program's rewrite rules over a
// snapshot. Semantics follow SpiceDB's: direct relationships, subject sets
// (nested groups), wildcards, computed usersets, arrows (->, .any, .all),
// union, intersection, exclusion and nil. As in SpiceDB's check
// (internal/graph/check.go): a subject set T:id#rel is a member of T:id#rel
// itself; a wildcard T:* matches every subject of type T, subject sets
// included; an arrow follows the object of each subject of its tupleset
// relation, ignoring that subject's relation, and skips wildcards; .all
// needs at least one such subject and every one of them to reach the
// target; a relation or permission that a subject's type lacks holds for
// nobody.
//
// Every request first picks a revision from its Consistency (Zanzibar's
// zookies: minimize_latency, at_least_as_fresh, at_exact_snapshot,
// fully_consistent), then evaluates at that revision. Inside a request,
// sub-problems are memoised, union stops at the first yes and intersection at
// the first no, cycles in the data are cut (a negative check over a group
// cycle is Denied, not an error), and a depth limit turns runaway recursion
// into an error wrapping ErrMaxDepth. Data whose answer depends on itself
// through the subtracted side of an exclusion has no consistent answer: the
// check fails with ErrNegativeCycle. Across requests a sharded cache keyed
// on (revision, resource, relation, subject) remembers every definite
// sub-problem; since revisions are immutable it never needs invalidating.
// It is bounded in bytes (Options.CacheMaxBytes, 256 MiB by default), held
// outside Go's heap, and allocates nothing per insert: each shard is a ring
// of encoded entries with an open-addressing index, evicting with CLOCK's
// second chance (see cache.go). An answer that rests on a relationship with
// an expiration is never cached (the revision would outlive it).
//
// The depth limit (Options.MaxDepth, 50 as in SpiceDB) is one limit for
// every call. A check fails with ErrMaxDepth when its walk nests more checks
// than the limit and no operand within it decides the answer (a union's
// Allowed, an intersection's Denied), whichever operand comes first; cache
// and memo entries carry the depth they needed (as SpiceDB's DepthRequired)
// and answer only where they fit, so a warm cache never answers what a
// cold check refuses. LookupResources walks up from the subject and
// LookupSubjects down from the resource counting the nested checks a Check
// of each node would need, and fail with ErrMaxDepth where a Check of a
// node they meet would: neither ever gives an answer its Check refuses.
// An explained check (CheckRequest.Explain) that fails in its walk (too
// deep, a negative cycle, a caveat that cannot be evaluated) returns an
// *ExplainedError: the same error, with the explanation up to the failure
// (its steps marked Failed down to the one where it failed).
//
// Lookups give what they find through a callback, as they find it
// (LookupResources in id order, after its walk; LookupSubjectsStream during
// its walk), look at their context as they read, and bound what they hold:
// LookupSubjectsStream remembers at most Options.MaxLookupResults subjects.
//
// The engine's tests compare it with a reference evaluator (a fixpoint over
// every relationship, stratum by stratum) on random schemas, data and
// queries, and with the truth tables SpiceDB computed for its own test
// files (../shared/conformance).
//
// Where groups nest (a relation that allows subject sets of itself, as
// group#member allowing group#member, or through other relations), the
// engine keeps a group index (groupindex.go), after Zanzibar's Leopard:
// the transitive closure of the nested groups, held in memory, built from
// the store and kept at its head from the store's change feed, so that
// "is ana in group G at any depth?" is one lookup. It answers a read at
// any revision from its build to its head for the groups that did not
// change since that revision, and leaves the rest to the walk: groups
// that changed later, reads newer than the index, and Denied answers
// below a caveated, expiring or wildcard relationship (it only proves
// Allowed through those). Options.DisableGroupIndex turns it off;
// Engine.GroupIndexStats reports its size and lag.
//
// Caveats are compiled once per schema (package caveats) and evaluated
// where a caveated relationship is met, with the request's Context merged
// under the relationship's stored context: a true caveat counts as no
// caveat, a false one as no relationship (but in a .all arrow, where it
// makes the whole arrow false, as SpiceDB ANDs caveat and check), and one
// whose parameters are missing makes that path Conditional. Answers combine
// with three-valued logic (Denied < Conditional < Allowed; union takes the
// maximum, intersection the minimum, exclusion a-b is Allowed only when a
// is Allowed and b is Denied), which is SpiceDB's caveat expression logic.
// A request with a non-empty Context bypasses the shared cache (whose keys
// carry no context); without one, answers depend only on the revision and
// are cached as before.
package engine

// Package bench sizes reach: it generates seed-shaped relationship data at any
// scale, loads it into a store through the bulk import path, runs workloads
// (checks, bulk checks, lookups, writes mixed with checks) against the engine
// and reports throughput, latency percentiles, cache hit ratio, allocations,
// memory and disk use, as text, JSON or a latency plot.
//
// It sits beside the pipeline rather than in it: it drives the tuples store
// and the engine the way an application would. The command `reach bench`
// (cmd/reach) is a thin layer over Run.
//
// Datasets are deterministic functions of a seed and a target number of
// relationships: every object's shape (how many departments an organisation
// has, how large each is, which team a user sits in, how many sends a user
// made) is a hash of the seed and the object's indices, so the generator
// streams relationships without keeping them, and the workloads can build
// queries whose answer is known in advance (a check the data allows, or one
// it denies, at a chosen depth) without reading the store. The engine's
// answers are compared with those expectations and mismatches are reported.
//
// Two datasets are provided: "gifting" (seed 000, a corporate gifting portal:
// organisations, departments with a few 100 times larger than most, nested
// teams, sends, One Links, campaigns and templates) and "campaigns" (seed 003,
// a campaign organising tool: accounts, campaigns, admins, staff with add-on
// permissions, volunteers, actions, contact lists and role assignments).
// Their schemas are embedded (bench/schemas), independent of schemas/.
package bench

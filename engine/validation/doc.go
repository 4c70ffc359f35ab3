// Package validation runs validation files in the `zed validate` YAML format
// against reach's engine: a schema (inline `schema` or a `schemaFile` beside
// the YAML file), relationships, assertions (assertTrue, assertFalse,
// assertCaveated, each optionally ending in ` with {json}` caveat context) and
// an expected-relations block (`validation`), whose subjects are compared with
// a recursive expansion of each listed resource and permission, as zed does.
//
// It also runs the lookup-expectations files of reach's conformance corpus
// (`X.lookups.yaml`, see Lookups): the LookupResources answers SpiceDB gave
// over the data of a matrix file.
//
// It sits at the end of reach's pipeline, after the schema compiler, the
// tuple store and the engine: Read parses a file, Run loads it into a fresh
// in-memory store and reports one result per assertion, with the explanation
// of each failure; RunPath does either kind of file. The engine evaluates
// caveats (with each assertion's context) and relationship expiration; with
// Options.Caveats or Options.Expiration turned off, files that need them are
// reported Unsupported rather than run. `reach validate` and the
// conformance tests are built on it.
package validation

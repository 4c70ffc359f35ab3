// Package server serves reach over the network with SpiceDB's API,
// authzed.api.v1, so that the official clients in every language (and
// github.com/authzed/authzed-go in Go) and existing integrations work
// against reach unchanged.
//
// It sits after the engine in reach's pipeline: requests arrive over gRPC
// (or as JSON over HTTP, through the gRPC gateway), are authenticated with a
// preshared bearer key, validated as SpiceDB validates them, and answered by
// the engine (checks, expansions, lookups) or the tuples store (writes,
// reads, deletes, bulk import and export, watch, the schema). ZedTokens are
// reach's revision tokens (tuples.Revision.Token); every consistency mode
// of the API maps to the engine's. Faults come back with the status codes
// and ErrorInfo reasons SpiceDB uses (see toStatus).
//
// The server also runs the gRPC health service, Prometheus metrics on an
// address of their own, and structured logs through log/slog; Run shuts down
// gracefully when its context ends. The command `reach serve` wraps it.
package server

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
// # Differences from SpiceDB
//
// ImportBulkRelationships is not one transaction. SpiceDB writes the whole
// stream in one transaction with CREATE semantics: a relationship that
// already exists (or comes twice in the stream) fails the call with
// AlreadyExists (ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP) and nothing
// is written. The tuples store offers no atomic write larger than
// tuples.Store.MaxBatch updates (Store.Write) and imports through
// Store.Import, which commits large batches, each atomic at a revision of
// its own, with TOUCH semantics. So here a relationship already present (or
// repeated) is replaced without error, and a call that fails part way (a
// relationship the schema refuses, a broken stream) leaves the batches
// before the fault written; NumLoaded counts what was written only when the
// call succeeds. Matching SpiceDB needs an all-or-nothing CREATE import in
// the tuples package.
//
// LookupSubjects answers Unimplemented to optional_concrete_limit and
// ignores optional_cursor, exactly as SpiceDB does today. A lookup that
// would have to hold more results than the engine's bound
// (engine.Options.MaxLookupResults; today a wildcard's exclusions) fails
// with ResourceExhausted, SpiceDB's code for a bound of the server met
// while answering; SpiceDB sets no such bound. ReflectSchema and
// DiffSchema report a caveat's expression as written rather than in CEL's
// canonical form (see reflect.go). Watch coalesces schema writes that land
// between two reads of the change log, and sends checkpoints per revision
// (as SpiceDB's in-memory datastore) but none on a timer.
//
// Every request, streams included, is bounded by Limits.RequestTimeout, but
// Watch; SpiceDB bounds a stream by the time between two messages instead
// (--streaming-api-response-delay-timeout), so a long export or lookup here
// continues from its last cursor in a new call. Error messages quote at most
// 100 characters of any input. A caveat int or uint out of range is refused
// (SpiceDB clamps it to 2^63-1). A cursor naming revision 0 is refused.
//
// The HTTP gateway checks the key from a request's headers before it reads
// the body, and bounds slow clients with read, write (Watch excepted) and
// idle timeouts and a cap on open connections (Limits.HTTP*).
//
// A check explains itself as SpiceDB's do: CheckPermission (and each item
// of CheckBulkPermissions) fills debug_trace when the request sets
// with_tracing or carries SpiceDB's older header io.spicedb.requestdebuginfo
// (answered in the trailer io.spicedb.respmeta.debuginfo too when the
// request does not also set with_tracing). Each step of the engine's
// explanation is one CheckDebugTrace node (see v1conv.ExplanationToTrace),
// so that zed's tree and `reach --endpoint ... check --explain` show the
// same proof; caveats appear with their expression, result, context and
// missing parameters. An explained check bypasses the check cache. A
// CheckPermission that fails explains itself in its error, as SpiceDB's
// does: the ErrorInfo's metadata debug_trace_proto_text holds the
// DebugInformation of the check up to the failure, as protobuf text.
//
// Requests and responses are encoded with the code vtprotobuf generated
// for the API's messages (authzed-go ships it), without reflection (see
// codec.go). The server's flow-control windows are fixed, not estimated
// with a PING at every call; reach's own clients (the remote CLI, the
// gateway's in-process one) use the same codec and windows
// (ClientOptions, client.go). The path of a check is kept lean, and timed step by step by
// BenchmarkCheckPermissionAPI: the interceptors copy no metadata but the
// key, the usual requests are validated without regular expressions, the
// request deadline makes its timer only when something waits on it, and a
// CheckPermission call allocates its request, deadline and response
// together (checkcall.go).
//
// The server also runs the gRPC health service, HTTP probes (/healthz,
// /readyz, without a key, on the gateway's and the metrics listeners; see
// probes.go), gRPC server reflection (without a key, as SpiceDB's),
// Prometheus metrics on an address of their own, and structured logs
// through log/slog; it reports its version to clients that ask as SpiceDB
// does (version.go). With Config.TracerProvider every request is an
// OpenTelemetry span (otelgrpc), continuing a W3C trace the client sends;
// wrap the store in datastore.Traced for spans of its reads. Run shuts
// down gracefully when its context ends. The command `reach serve` wraps
// it.
package server

// Package caveats compiles and evaluates SpiceDB caveats: the CEL
// expressions of `caveat name(params) { expression }` definitions, with
// SpiceDB's parameter types (any, bool, int, uint, double, string, bytes,
// duration, timestamp, list<T>, map<T> and the custom ipaddress type with
// its in_cidr method).
//
// It follows SpiceDB's pkg/caveats and internal/caveats:
//
//   - Compile type-checks the expression against the declared parameters
//     (unknown names are refused, the result must be bool) and reports CEL's
//     errors with their line and column inside the expression.
//   - Evaluate merges the request's context with the relationship's stored
//     context, the stored context winning for a name both give; converts
//     each value (decoded JSON: float64 numbers, strings for timestamps,
//     durations, bytes and IP addresses) to its parameter's type, with
//     SpiceDB's error texts for wrong values; ignores names that are not
//     parameters; then evaluates partially: parameters left without a value
//     are unknown, and an expression that cannot be decided without them
//     gives a Partial result listing them (SpiceDB's
//     partial_caveat_info.missing_required_context).
//
// A Caveat is immutable after Compile and safe for concurrent use.
// INTEGRATION.md, beside this file, explains how the engine is to use it.
package caveats

// Package schema reads, checks, compiles, prints and draws schemas written in
// the SpiceDB schema language (.zed files).
//
// It is the first stage of reach's pipeline: source text is lexed and parsed
// into an AST that keeps positions and doc comments, resolved and type-checked
// (every fault reported as FILE:LINE:COL: message), and compiled into a
// Program, the immutable rewrite graph that the engine walks.
package schema

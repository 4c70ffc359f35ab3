// Package schema reads, checks, compiles and prints schemas written in the
// SpiceDB schema language (.zed files).
//
// It is the first stage of reach's pipeline: source text is lexed and parsed
// (Parse) into an AST that keeps positions and comments, resolved and checked
// against the rules SpiceDB applies when a schema is written, and compiled
// (Compile) into a Program, the immutable rewrite graph that the engine walks.
// Format prints an AST in canonical form, keeping its comments.
//
// Every fault is a Diagnostic, printed as FILE:LINE:COL: message; one run
// reports as many as it can find. Where SpiceDB refuses a schema, Compile
// returns an error (an ErrorList); where SpiceDB's linter only warns (an
// arrow to a relation rather than a permission, an arrow whose target exists
// on no subject type, an arrow over a subject relation, a permission that
// refers to itself, a relation named after its definition), the Diagnostic
// is a Warning, printed as FILE:LINE:COL: warning: message, and the schema
// compiles.
//
// Parsing, checking and compiling take time linear in the size of the
// source, within limits that no real schema comes near (limits.go): at most
// MaxSourceBytes of source (4 MiB, as SpiceDB's API), MaxExprTerms terms in
// one permission and MaxExprDepth levels of parentheses. A schema beyond one
// is refused with an error at the place where it crosses it. CompileContext
// also stops when its context is done, for a server whose request deadline
// passes.
//
// The language, as SpiceDB defines it: `use expiration`; definitions with an
// optional prefix (`org/document`); `relation name: T | T#rel | T:* | T with
// caveat | T with expiration | T with caveat and expiration`; `permission
// name = expr` with `+` (union), `&` (intersection) and `-` (exclusion), where
// `+` binds tightest, then `&`, then `-` (so `a - b + c` is `a - (b + c)`),
// parentheses, `nil`, `rel->perm`, `rel.any(perm)` and `rel.all(perm)`;
// caveats `caveat name(p int, q list<string>) { CEL }`, whose expression is
// kept as text. A statement ends with `;` or with a line break after a name,
// a keyword, `)`, `}` or `*`; a line break after any other token (an
// operator, `:`, `|`, `=`, `(`, `...`) does not end it.
package schema

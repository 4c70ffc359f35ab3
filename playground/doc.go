// Package playground is the web page of `reach playground`: a local page
// where a schema, its relationships and its assertions (a `zed validate`
// file) are edited side by side and answered by reach's own engine as you
// type.
//
// The page shows the schema's errors at their line and column, a picture
// of the model (definitions and the relations and arrows between them),
// the relationships and assertions validated line by line, checks with
// their proof drawn as a graph, lookups (resources and subjects), expand,
// the access matrix of a resource (permissions by subjects, as the seed
// articles' own tables), and, when the schema is edited, the matrix cells
// the edit would flip (package internal/impact). The five seed models
// (package schemas) are in a menu; a validation file can be opened and
// saved, and the URL's fragment holds the whole state, so a link restores
// it.
//
// It sits beside the server (`reach serve`), not on it: nothing is stored.
// Every request carries the state it is about (schema and relationships);
// the server loads it into an in-memory store (validation.Load), keeps the
// few most recent ones for the next request, and answers. Requests are
// bounded in size (Options.MaxBody, Options.MaxRelationships) and time
// (Options.Timeout).
//
// The page itself is plain HTML, CSS and JavaScript embedded in the binary
// (static/): no build step, no library, nothing loaded from the network.
// The model's picture and the proof graphs are laid out and drawn as SVG
// in the browser from the JSON the API returns.
//
// # API
//
// Every endpoint takes and returns JSON; a state is
// {"schema": TEXT, "relationships": TEXT, "assertions": TEXT} (the
// `relationships` block, one relationship a line, and the `assertions`
// block as YAML, as in a validation file).
//
//	GET  /api/seeds                 the seed models: [{name, title}]
//	GET  /api/seeds/NAME            a seed as a state, with its matrix presets
//	POST /api/analyze    STATE      diagnostics of the three editors, the model's graph, the assertions' results, the objects named
//	POST /api/check      {state, resource, permission, subject, context}   the answer and its proof
//	POST /api/lookup/resources {state, resource_type, permission, subject}
//	POST /api/lookup/subjects  {state, resource, permission, subject_type}
//	POST /api/expand     {state, resource, permission}
//	POST /api/matrix     {state, targets, subjects, permissions}
//	POST /api/impact     {state, baseline}   what changes from the baseline schema to the state's
//	POST /api/file/parse {yaml}      a validation file as a state
//	POST /api/file/save  STATE       the state as a validation file
//
// Errors are {"error": MESSAGE} with status 400 (bad input), 413 (too
// large), 422 (a state that cannot be loaded: its schema does not
// compile) or 504 (past the deadline).
package playground

package server

import (
	"context"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/schema"
)

// schemaFile is the name schemas written through the API are compiled
// under (it appears in error positions).
const schemaFile = "schema.zed"

// schemaService implements authzed.api.v1.SchemaService.
type schemaService struct {
	v1.UnimplementedSchemaServiceServer
	s *Server
}

// ReadSchema returns the schema as written. As SpiceDB, NotFound when no
// schema has been written.
func (x *schemaService) ReadSchema(ctx context.Context, _ *v1.ReadSchemaRequest) (*v1.ReadSchemaResponse, error) {
	s := x.s
	_, src, rev, err := s.store.SchemaSource(ctx)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	if len(src) == 0 {
		return nil, status.Error(codes.NotFound, "No schema has been defined; please call WriteSchema to start")
	}
	head, err := s.store.HeadRevision(ctx)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	if head < rev {
		head = rev
	}
	return &v1.ReadSchemaResponse{SchemaText: string(src), ReadAt: zedToken(head)}, nil
}

// WriteSchema compiles and stores a schema. A syntax error is
// InvalidArgument (ERROR_REASON_SCHEMA_PARSE_ERROR); a type error
// (undefined type or relation...) is FailedPrecondition
// (ERROR_REASON_SCHEMA_TYPE_ERROR); a change that would orphan stored
// relationships is InvalidArgument (ERROR_REASON_SCHEMA_TYPE_ERROR), as
// SpiceDB answers each.
func (x *schemaService) WriteSchema(ctx context.Context, req *v1.WriteSchemaRequest) (*v1.WriteSchemaResponse, error) {
	s := x.s
	src := []byte(req.GetSchema())
	if _, diags := schema.Parse(schemaFile, src); hasErrors(diags) {
		return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_SCHEMA_PARSE_ERROR, nil,
			"%s", errorsOnly(diags))
	}
	rev, _, err := s.store.WriteSchema(ctx, schemaFile, src)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	s.log.InfoContext(ctx, "schema written", "revision", uint64(rev))
	return &v1.WriteSchemaResponse{WrittenAt: zedToken(rev)}, nil
}

func hasErrors(diags []schema.Diagnostic) bool {
	return len(errorsOnly(diags)) > 0
}

func errorsOnly(diags []schema.Diagnostic) schema.ErrorList {
	var out schema.ErrorList
	for _, d := range diags {
		if d.Severity == schema.Error {
			out = append(out, d)
		}
	}
	return out
}

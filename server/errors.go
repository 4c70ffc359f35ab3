package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// errorDomain is the ErrorInfo domain of SpiceDB's errors (spiceerrors.Domain).
const errorDomain = "authzed.com"

// withReason returns a status error with code, message and an ErrorInfo
// detail carrying reason, as SpiceDB's spiceerrors.WithCodeAndReason does.
func withReason(code codes.Code, reason v1.ErrorReason, metadata map[string]string, format string, args ...any) error {
	st := status.New(code, fmt.Sprintf(format, args...))
	info := &errdetails.ErrorInfo{Reason: reason.String(), Domain: errorDomain, Metadata: metadata}
	if d, err := st.WithDetails(info); err == nil {
		st = d
	}
	return st.Err()
}

// invalidArgument is a plain InvalidArgument status, the answer to a request
// that fails validation.
func invalidArgument(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// Error messages quote the input at fault, and an input can be megabytes:
// an identifier in a schema, a token, a caveat context value. gRPC sends the
// message in a header, which clients cap (grpc-java and gRPC's C core at
// 8-16 KiB of metadata; grpc-go at 16 MiB), and logs repeat it. So a message keeps at most maxQuoted
// characters of any unbroken run of text (an identifier, a quoted value),
// followed by "…", and at most about maxMessage bytes in all.
const (
	maxQuoted  = 100
	maxMessage = 4 << 10
)

// boundMessage shortens msg to the bounds above.
func boundMessage(msg string) string {
	if len(msg) <= maxQuoted {
		return msg
	}
	var b strings.Builder
	run := 0 // characters in the current run without spaces
	for _, r := range msg {
		if unicode.IsSpace(r) {
			run = 0
		} else if run++; run > maxQuoted {
			if run == maxQuoted+1 {
				b.WriteString("…")
			}
			continue
		}
		if b.Len() >= maxMessage {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// boundStatus is err as the status the client gets, its message bounded by
// boundMessage (code and details kept).
func boundStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err) // as gRPC converts what a handler returns
	}
	msg := boundMessage(st.Message())
	if msg == st.Message() {
		return st.Err()
	}
	p := st.Proto()
	p.Message = msg
	return status.FromProto(p).Err()
}

// toStatus turns an error of the engine or the store into the gRPC status
// SpiceDB returns for the same fault (see DESIGN.md, "Semantics worth
// knowing", and SpiceDB's internal/services/shared/errors.go). Errors that
// already are statuses pass through; anything unexpected is logged and
// becomes Internal. The message is bounded (boundStatus).
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	return boundStatus(classify(ctx, log, err))
}

func classify(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ve *tuples.ValidationError
	var pe *tuples.ParseError
	var el schema.ErrorList
	var cpe *caveats.ParameterTypeError
	var cee *caveats.EvaluationError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.As(err, &el):
		// Compile errors that survived parsing are type errors (the parse
		// errors are sorted out before, in WriteSchema).
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_SCHEMA_TYPE_ERROR, nil, "%s", err)
	case errors.Is(err, tuples.ErrOrphans):
		// SpiceDB's SchemaWriteDataValidationError.
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_SCHEMA_TYPE_ERROR, nil, "%s", err)
	case errors.Is(err, tuples.ErrAlreadyExists):
		return withReason(codes.AlreadyExists, v1.ErrorReason_ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP, nil,
			"could not CREATE relationship: %s", err)
	case errors.Is(err, tuples.ErrPreconditionFailed):
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE, nil,
			"unable to satisfy write precondition: %s", err)
	case errors.Is(err, tuples.ErrBatchTooLarge):
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST, nil, "%s", err)
	case errors.Is(err, tuples.ErrDuplicateUpdate):
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP, nil, "%s", err)
	case errors.As(err, &cpe):
		// A check's context of the wrong type for a caveat parameter (a
		// relationship's is refused on write, as a ValidationError).
		md := map[string]string{"caveat_name": cpe.Caveat}
		if cpe.Param != "" {
			md["parameter_name"] = cpe.Param
		}
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR, md, "%s", err)
	case errors.As(err, &cee):
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_CAVEAT_EVALUATION_ERROR,
			map[string]string{"caveat_name": cee.Caveat}, "%s", err)
	case errors.As(err, &ve):
		// Classified by the caller when it has the schema; otherwise the
		// generic answer for a relationship the schema refuses.
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNSPECIFIED, nil, "%s", err)
	case errors.As(err, &pe):
		return invalidArgument("%s", err)
	case errors.Is(err, tuples.ErrNoSchema), errors.Is(err, engine.ErrNoSchema):
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION, nil,
			"%s: write a schema first", err)
	case errors.Is(err, engine.ErrUnknown):
		// The engine's message says which: "object definition ..." or
		// "relation or permission ...".
		if strings.Contains(err.Error(), "object definition") {
			return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION, nil, "%s", err)
		}
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION, nil, "%s", err)
	case errors.Is(err, engine.ErrMaxDepth), errors.Is(err, engine.ErrNegativeCycle):
		// DESIGN.md: FailedPrecondition with this reason, as verified
		// against a running SpiceDB (newer SpiceDB releases answer
		// ResourceExhausted).
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED, nil, "%s", err)
	case errors.Is(err, engine.ErrTooManyResults):
		// A lookup that would hold more results than the server's bound
		// (engine.Options.MaxLookupResults: reach serve
		// --max-lookup-results). SpiceDB answers a bound of the server met
		// while answering with ResourceExhausted (its depth limit, its
		// memory protection, an exhausted connection pool); its
		// InvalidArgument with EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT is for a
		// limit the request asks for, which this request did not. Logged:
		// the operator sets the bound.
		log.WarnContext(ctx, "lookup refused: too many results to hold", "err", boundMessage(err.Error()))
		return status.Errorf(codes.ResourceExhausted, "%s (the server's bound on the results a lookup holds)", err)
	case errors.Is(err, engine.ErrWildcardSubject):
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_WILDCARD_NOT_ALLOWED, nil,
			"cannot perform check on wildcard subject")
	case errors.Is(err, engine.ErrBadCursor), errors.Is(err, tuples.ErrBadCursor), errors.Is(err, errBadCursor):
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_INVALID_CURSOR, nil,
			"the cursor provided is not valid: %s", err)
	case errors.Is(err, tuples.ErrBadToken):
		return invalidArgument("invalid zedtoken: %s", err)
	case errors.Is(err, tuples.ErrRevisionTooOld), errors.Is(err, tuples.ErrRevisionInFuture):
		return status.Errorf(codes.OutOfRange, "invalid zedtoken: %s", err)
	case errors.Is(err, tuples.ErrClosed):
		return status.Errorf(codes.Unavailable, "%s", err)
	case errors.Is(err, tuples.ErrNoSpace):
		// The disk is full: writes wait for space, reads go on.
		log.WarnContext(ctx, "write refused: no space", "err", err)
		return status.Errorf(codes.ResourceExhausted, "%s", err)
	case errors.Is(err, tuples.ErrReadOnly):
		return status.Errorf(codes.Unavailable, "%s", err)
	case errors.Is(err, tuples.ErrCorrupt):
		log.ErrorContext(ctx, "the store is damaged", "err", err)
		return status.Errorf(codes.DataLoss, "%s", err)
	case errors.Is(err, datastore.ErrUnavailable):
		// The shared database cannot be reached: the client may retry, on
		// this node or another (SpiceDB answers Unavailable too).
		log.WarnContext(ctx, "datastore unavailable", "err", err)
		return status.Errorf(codes.Unavailable, "%s", err)
	}
	log.ErrorContext(ctx, "unexpected error", "err", boundMessage(err.Error()))
	return status.Errorf(codes.Internal, "internal error: %s", err)
}

// classifyInvalid refines the status of a relationship that the schema p
// refuses into SpiceDB's: an unknown definition or relation is
// FailedPrecondition, a write to a permission or of a subject type the
// relation does not allow is InvalidArgument, an unknown caveat is
// FailedPrecondition.
func classifyInvalid(p *schema.Program, r tuples.Relationship, err error) error {
	if p == nil {
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION, nil,
			"%s: write a schema first", err)
	}
	def := p.Definition(r.ResourceType)
	if def == nil {
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION,
			map[string]string{"definition_name": r.ResourceType}, "object definition `%s` not found", r.ResourceType)
	}
	rel := def.Relation(r.Relation)
	if rel == nil {
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION,
			map[string]string{"definition_name": r.ResourceType, "relation_or_permission_name": r.Relation},
			"relation/permission `%s` not found under definition `%s`", r.Relation, r.ResourceType)
	}
	if rel.Kind == schema.KindPermission {
		return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_CANNOT_UPDATE_PERMISSION,
			map[string]string{"definition_name": r.ResourceType, "permission_name": r.Relation},
			"cannot write a relationship to permission `%s` under definition `%s`", r.Relation, r.ResourceType)
	}
	if p.Definition(r.SubjectType) == nil {
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_DEFINITION,
			map[string]string{"definition_name": r.SubjectType}, "object definition `%s` not found", r.SubjectType)
	}
	if r.SubjectRelation != "" && p.Definition(r.SubjectType).Relation(r.SubjectRelation) == nil {
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION,
			map[string]string{"definition_name": r.SubjectType, "relation_or_permission_name": r.SubjectRelation},
			"relation/permission `%s` not found under definition `%s`", r.SubjectRelation, r.SubjectType)
	}
	if r.Caveat != nil && p.Caveat(r.Caveat.Name) == nil {
		return withReason(codes.FailedPrecondition, v1.ErrorReason_ERROR_REASON_UNKNOWN_CAVEAT,
			map[string]string{"caveat_name": r.Caveat.Name}, "caveat `%s` not found", r.Caveat.Name)
	}
	return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_SUBJECT_TYPE,
		map[string]string{"definition_name": r.ResourceType, "relationship": r.WithoutTraits().String()}, "%s", err)
}

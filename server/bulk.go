package server

import (
	"bufio"
	"errors"
	"io"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"

	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/tuples"
)

// ImportBulkRelationships streams relationships into the store through
// tuples.Store.Import. Unlike SpiceDB, which writes the whole stream in one
// transaction with CREATE semantics, the store imports in large atomic
// batches (one revision each) with TOUCH semantics: a relationship already
// present is replaced, and a failure part way leaves the earlier batches
// written (see the package documentation, "Differences from SpiceDB").
func (p *permissionsService) ImportBulkRelationships(stream grpc.ClientStreamingServer[v1.ImportBulkRelationshipsRequest, v1.ImportBulkRelationshipsResponse]) error {
	s := p.s
	ctx := stream.Context()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriterSize(pw, 64<<10)
		for {
			req, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				if err := bw.Flush(); err != nil {
					pw.CloseWithError(err)
					return
				}
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			for _, pr := range req.GetRelationships() {
				r, err := relationshipFromProto(pr)
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				if _, err := bw.WriteString(r.String() + "\n"); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
	}()
	res, err := s.store.Import(ctx, pr, tuples.ImportOptions{Name: "import", Format: tuples.FormatLines})
	pr.CloseWithError(errors.New("import ended"))
	<-done
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The deadline passed or the client left: a receive failed
			// for it, which the store reports as a fault of its line.
			return s.status(ctx, cerr)
		}
		var le *tuples.LineError
		if errors.As(err, &le) {
			var ve *tuples.ValidationError
			if errors.As(le.Err, &ve) {
				return s.writeStatus(ctx, ve)
			}
			return invalidArgument("relationship %d: %s", le.Line, le.Err)
		}
		return s.status(ctx, err)
	}
	s.metrics.writes.Add(float64(res.Imported))
	return stream.SendAndClose(&v1.ImportBulkRelationshipsResponse{NumLoaded: uint64(res.Imported)})
}

// ExportBulkRelationships streams every relationship (matching the optional
// filter) at one revision, in batches of optional_limit (default and most:
// Limits.MaxExportBatch), each batch with the cursor that resumes after it.
func (p *permissionsService) ExportBulkRelationships(req *v1.ExportBulkRelationshipsRequest, stream grpc.ServerStreamingServer[v1.ExportBulkRelationshipsResponse]) error {
	s := p.s
	ctx := stream.Context()
	batch := int(req.GetOptionalLimit())
	if err := checkLimit(batch, s.cfg.Limits.MaxExportBatch); err != nil {
		return err
	}
	if batch == 0 {
		batch = s.cfg.Limits.MaxExportBatch
	}
	var f tuples.Filter
	if rf := req.GetOptionalRelationshipFilter(); rf != nil {
		if err := checkFilter(rf); err != nil {
			return err
		}
		f = v1conv.FilterFromProto(rf)
	}
	start, err := s.pageStart(ctx, req.GetOptionalCursor(), req.GetConsistency())
	if err != nil {
		return err
	}
	var out []*v1.Relationship
	var last pageCursor
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		err := stream.Send(&v1.ExportBulkRelationshipsResponse{Relationships: out, AfterResultCursor: last.encode()})
		out = nil
		return err
	}
	err = s.readPages(ctx, f, start, 0, func(r tuples.Relationship, after pageCursor) error {
		pr, err := v1conv.RelationshipToProto(r)
		if err != nil {
			return err
		}
		out = append(out, pr)
		last = after
		if len(out) == batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

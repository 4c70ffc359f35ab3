package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// A lookup that would hold more results than the engine's bound
// (engine.Options.MaxLookupResults, reach serve --max-lookup-results)
// fails with engine.ErrTooManyResults, which every method answers as
// ResourceExhausted, its message the engine's and a word on the bound.
//
// The code is SpiceDB's, read in its source
// (internal/services/shared/errors.go and internal/services/v1/errors.go):
// SpiceDB answers a bound of the server met while it answers with
// ResourceExhausted (MaxDepthExceededError in current releases, its memory
// protection middleware, an exhausted connection pool, a Watch that falls
// behind), while InvalidArgument with ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT
// answers a request whose own limit is over the server's maximum (as
// reach's checkLimit does). A lookup past MaxLookupResults asked for no
// limit: it met the server's bound, so ResourceExhausted, without an
// ErrorInfo (no reason of the API names it; SpiceDB's plain
// ResourceExhausted answers carry none).
func TestTooManyResultsStatus(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := fmt.Errorf("subjects of document:d#view: the wildcard user:* excludes more than 2: %w", engine.ErrTooManyResults)
	st := status.Convert(toStatus(context.Background(), log, err))
	require.Equal(t, codes.ResourceExhausted, st.Code())
	require.Empty(t, st.Details())
	requireTooMany(t, st.Err())
}

// requireTooMany asserts the status of a lookup past the bound.
func requireTooMany(t *testing.T, err error) {
	t.Helper()
	requireStatus(t, err, codes.ResourceExhausted, "")
	msg := status.Convert(err).Message()
	require.Contains(t, msg, engine.ErrTooManyResults.Error())
	require.True(t, strings.HasSuffix(msg, "(the server's bound on the results a lookup holds)"), "message: %s", msg)
}

// wildcardBanned writes document:d viewable by user:* but n banned users.
func wildcardBanned(t *testing.T, ts *testServer, n int) {
	t.Helper()
	rels := []string{"document:d#viewer@user:*"}
	for i := range n {
		rels = append(rels, fmt.Sprintf("document:d#banned@user:b%d", i))
	}
	mustWrite(t, ts.client, rels...)
}

// LookupSubjects meets the bound where a wildcard excludes more subjects
// than it may hold: over gRPC and through the HTTP gateway, the same
// status; at the bound, the answer.
func TestLookupSubjectsPastTheBound(t *testing.T) {
	ts := startServer(t, testOptions{engine: engine.Options{MaxLookupResults: 2}})
	mustWriteSchema(t, ts.client, testSchema)
	ctx := testCtx(t)
	lookup := func() ([]*v1.LookupSubjectsResponse, error) {
		st, err := ts.client.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
			Consistency: fully(), Resource: obj("document", "d"), Permission: "view", SubjectObjectType: "user",
		})
		require.NoError(t, err)
		return recvAll[*v1.LookupSubjectsResponse](t, st)
	}

	wildcardBanned(t, ts, 2)
	got, err := lookup()
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "*", got[0].GetSubject().GetSubjectObjectId())
	require.Len(t, got[0].GetExcludedSubjects(), 2)

	wildcardBanned(t, ts, 3)
	_, err = lookup()
	requireTooMany(t, err)

	t.Run("http", func(t *testing.T) {
		body := `{"consistency":{"fullyConsistent":true},"resource":{"objectType":"document","objectId":"d"},"permission":"view","subjectObjectType":"user"}`
		req, err := http.NewRequest(http.MethodPost, "http://"+ts.httpAddr+"/v1/permissions/subjects", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		// A stream's error comes after the headers, in the body, as
		// grpc-gateway writes it: {"error": {code, message}}.
		var last struct {
			Error *struct {
				Code    codes.Code
				Message string
			}
		}
		dec := json.NewDecoder(resp.Body)
		for dec.More() {
			require.NoError(t, dec.Decode(&last))
		}
		require.NotNil(t, last.Error, "no error in the stream")
		requireTooMany(t, status.Error(last.Error.Code, last.Error.Message))
	})
}

// tooManyStore fails its snapshots, while armed, with an error that wraps
// engine.ErrTooManyResults, as a lookup past the bound fails: it stands in
// for such a lookup in the methods the engine does not (yet) bound.
type tooManyStore struct {
	datastore.Datastore
	armed atomic.Bool
}

func (s *tooManyStore) Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	if s.armed.Load() {
		return nil, fmt.Errorf("holding the results: %w", engine.ErrTooManyResults)
	}
	return s.Datastore.Snapshot(ctx, rev)
}

// Each lookup method answers the same status to ErrTooManyResults, wherever
// in the engine it arises (today only LookupSubjects' wildcard exclusions
// are bounded; LookupResources holds its candidates unbounded).
func TestLookupsAnswerTooManyResultsAlike(t *testing.T) {
	var store *tooManyStore
	ts := startServer(t, testOptions{
		engine: engine.Options{DisableGroupIndex: true},
		wrapStore: func(d datastore.Datastore) datastore.Datastore {
			store = &tooManyStore{Datastore: d}
			return store
		},
	})
	mustWriteSchema(t, ts.client, testSchema)
	mustWrite(t, ts.client, "document:d#viewer@user:ana")
	ctx := testCtx(t)
	methods := map[string]func() error{
		"LookupResources": func() error {
			st, err := ts.client.LookupResources(ctx, &v1.LookupResourcesRequest{
				Consistency: fully(), ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", ""),
			})
			require.NoError(t, err)
			_, err = recvAll[*v1.LookupResourcesResponse](t, st)
			return err
		},
		"LookupSubjects": func() error {
			st, err := ts.client.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
				Consistency: fully(), Resource: obj("document", "d"), Permission: "view", SubjectObjectType: "user",
			})
			require.NoError(t, err)
			_, err = recvAll[*v1.LookupSubjectsResponse](t, st)
			return err
		},
	}
	for name, call := range methods {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, call(), "unarmed")
			store.armed.Store(true)
			defer store.armed.Store(false)
			requireTooMany(t, call())
		})
	}
}

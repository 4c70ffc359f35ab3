package server

import (
	"fmt"
	"slices"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// TestWatchKinds follows SpiceDB's Watch (internal/services/v1/watch.go,
// watchutil.go, and the memdb datastore's watch.go, which its watch_test.go
// runs against):
//
//   - the update kinds only add to relationship updates
//     (convertWatchKindToContent starts from WatchRelationships), so
//     relationships are streamed whatever the kinds;
//   - WATCH_KIND_INCLUDE_SCHEMA_UPDATES adds a response with schema_updated
//     at the revision of a schema write;
//   - WATCH_KIND_INCLUDE_CHECKPOINTS adds, after each revision, a response
//     with is_checkpoint at that revision, also for revisions whose changes
//     were all filtered out and for schema writes (memdb's loadChanges
//     appends one per change-log revision); SpiceDB's "watch with all kinds"
//     case expects updates, checkpoint, schema_updated, checkpoint;
//   - both object types and relationship filters are refused only when
//     relationship updates are asked for (no kinds, UNSPECIFIED or
//     INCLUDE_RELATIONSHIP_UPDATES); otherwise both apply.
//
// Each expected response is "N:what", N being the action (from 1) whose
// revision is the response's changes_through.
func TestWatchKinds(t *testing.T) {
	const (
		all        = "all"
		checkpoint = v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS
		schemaKind = v1.WatchKind_WATCH_KIND_INCLUDE_SCHEMA_UPDATES
		rels       = v1.WatchKind_WATCH_KIND_INCLUDE_RELATIONSHIP_UPDATES
	)
	newSchema := testSchema + "\ndefinition extra {}\n"
	type action func(t *testing.T, c *authzed.Client) *v1.ZedToken
	write := func(r string) action {
		return func(t *testing.T, c *authzed.Client) *v1.ZedToken { return mustWrite(t, c, r) }
	}
	writeSchema := func(t *testing.T, c *authzed.Client) *v1.ZedToken { return mustWriteSchema(t, c, newSchema) }
	tests := []struct {
		name    string
		kinds   []v1.WatchKind
		types   []string
		filters []*v1.RelationshipFilter
		late    bool // open the stream after the actions (catching up)
		actions []action
		want    []string
	}{
		{
			name:    "default kinds",
			actions: []action{write("document:d1#owner@user:ana"), writeSchema, write("group:g#member@user:bo")},
			want:    []string{"1:TOUCH document:d1#owner@user:ana", "3:TOUCH group:g#member@user:bo"},
		},
		{
			name:    "relationship kind",
			kinds:   []v1.WatchKind{rels},
			actions: []action{writeSchema, write("document:d1#owner@user:ana")},
			want:    []string{"2:TOUCH document:d1#owner@user:ana"},
		},
		{
			name:  "checkpoints",
			kinds: []v1.WatchKind{checkpoint},
			types: []string{"document"},
			actions: []action{
				write("document:d1#owner@user:ana"), writeSchema,
				write("group:g#member@user:bo"), // filtered out: checkpoint only
				write("document:d2#owner@user:cy"),
			},
			want: []string{
				"1:TOUCH document:d1#owner@user:ana", "1:checkpoint",
				"2:checkpoint",
				"3:checkpoint",
				"4:TOUCH document:d2#owner@user:cy", "4:checkpoint",
			},
		},
		{
			name:    "all kinds (SpiceDB's case)",
			kinds:   []v1.WatchKind{rels, schemaKind, checkpoint},
			actions: []action{write("document:d1#owner@user:ana"), writeSchema},
			want:    []string{"1:TOUCH document:d1#owner@user:ana", "1:checkpoint", "2:schema", "2:checkpoint"},
		},
		{
			name:    "all kinds catching up",
			kinds:   []v1.WatchKind{rels, schemaKind, checkpoint},
			late:    true,
			actions: []action{write("document:d1#owner@user:ana"), writeSchema, write("document:d2#owner@user:bo")},
			want: []string{
				"1:TOUCH document:d1#owner@user:ana", "1:checkpoint",
				"2:schema", "2:checkpoint",
				"3:TOUCH document:d2#owner@user:bo", "3:checkpoint",
			},
		},
		{
			name:    "schema kind only, both filters",
			kinds:   []v1.WatchKind{schemaKind},
			types:   []string{"document"},
			filters: []*v1.RelationshipFilter{{OptionalResourceIdPrefix: "d"}},
			actions: []action{
				write("document:d1#owner@user:ana"), writeSchema,
				write("document:x1#owner@user:bo"), // not matching the prefix
				write("group:d3#member@user:bo"),   // not matching the type
				write("document:d2#owner@user:cy"),
			},
			want: []string{"1:TOUCH document:d1#owner@user:ana", "2:schema", "5:TOUCH document:d2#owner@user:cy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, testOptions{})
			c := ts.client
			ctx := testCtx(t)
			start := mustWriteSchema(t, c, testSchema)
			req := &v1.WatchRequest{
				OptionalStartCursor: start, OptionalUpdateKinds: tt.kinds,
				OptionalObjectTypes: tt.types, OptionalRelationshipFilters: tt.filters,
			}
			var st v1.WatchService_WatchClient
			var err error
			if !tt.late {
				st, err = c.Watch(ctx, req)
				require.NoError(t, err)
			}
			revs := map[string]int{}
			var got []string
			recv := func() {
				t.Helper()
				resp, err := st.Recv()
				require.NoError(t, err, "after %q", got)
				n, ok := revs[resp.GetChangesThrough().GetToken()]
				require.True(t, ok, "changes_through %v is no action's revision", resp.GetChangesThrough())
				switch {
				case resp.GetIsCheckpoint():
					require.Empty(t, resp.GetUpdates())
					require.False(t, resp.GetSchemaUpdated())
					got = append(got, fmt.Sprintf("%d:checkpoint", n))
				case resp.GetSchemaUpdated():
					require.Empty(t, resp.GetUpdates())
					got = append(got, fmt.Sprintf("%d:schema", n))
				default:
					require.NotEmpty(t, resp.GetUpdates())
					for _, u := range resp.GetUpdates() {
						op := u.GetOperation().String()[len("OPERATION_"):]
						got = append(got, fmt.Sprintf("%d:%s %s", n, op, relString(t, u.GetRelationship())))
					}
				}
			}
			// A stream of checkpoints may cover several revisions with one
			// (the watcher reads every revision committed when it wakes), so
			// a live stream reads each action's checkpoint before the next
			// action, which makes one checkpoint per revision certain.
			stepwise := !tt.late && slices.Contains(tt.kinds, checkpoint)
			for i, a := range tt.actions {
				revs[a(t, c).GetToken()] = i + 1
				if stepwise {
					mark := fmt.Sprintf("%d:checkpoint", i+1)
					for len(got) == 0 || got[len(got)-1] != mark {
						recv()
					}
				}
			}
			if tt.late {
				st, err = c.Watch(ctx, req)
				require.NoError(t, err)
			}
			for len(got) < len(tt.want) {
				recv()
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestWatchBothFilters: SpiceDB answers InvalidArgument "cannot specify both
// object types and relationship filters" when relationship updates are
// asked for, explicitly or by default.
func TestWatchBothFilters(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	for _, kinds := range [][]v1.WatchKind{
		nil,
		{v1.WatchKind_WATCH_KIND_UNSPECIFIED},
		{v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS, v1.WatchKind_WATCH_KIND_INCLUDE_RELATIONSHIP_UPDATES},
	} {
		st, err := c.Watch(testCtx(t), &v1.WatchRequest{
			OptionalUpdateKinds: kinds, OptionalObjectTypes: []string{"document"},
			OptionalRelationshipFilters: []*v1.RelationshipFilter{{ResourceType: "document"}},
		})
		require.NoError(t, err)
		_, err = st.Recv()
		requireStatus(t, err, codes.InvalidArgument, "")
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"

	"github.com/reach-authz/reach/tuples"
)

// TestServeSIGKILLDuringImport kills `reach serve` (embedded store) with
// SIGKILL at a random moment while clients of the authzed-go library stream
// ImportBulkRelationships (two at a time), send WriteRelationships batches,
// and write groups of relationships that they then delete with
// DeleteRelationships by filter. Then `reach datastore check` must find the
// store healthy, a restarted server must answer, and what the clients saw
// must hold:
//
//   - a write or delete whose response came back is there whole at the
//     revision its token names (in this round and every later one), and at
//     the head unless a later delete undid it;
//   - a write or delete that was in flight is wholly there or wholly absent
//     (each batch owns a resource id prefix, so its relationships are told
//     apart from everything else's);
//   - an import whose response came back is there whole;
//   - an import that was cut off left a prefix of its stream made of whole
//     store batches.
//
// What the last promise rests on: reach's ImportBulkRelationships is not
// SpiceDB's all-or-nothing stream (server/doc.go, "Differences from
// SpiceDB"). The server pipes the stream, in its order, into
// tuples.Store.Import, which commits it in batches of
// tuples.DefaultImportBatch relationships (fewer only for long lines, not
// these), each atomic at a revision of its own and committed in stream
// order; the response is sent once the last batch is committed. So a stream
// cut off by the kill leaves its first k batches, k ≥ 0: a prefix whose
// length is a multiple of the batch size, or the whole stream when only the
// response was lost.
//
// The rounds run on one data directory, each on the store the previous kill
// left; the seed (REACH_TEST_KILL_SEED, default 1) fixes the batch shapes
// and the moments of the kills, not the interleaving.
func TestServeSIGKILLDuringImport(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	seed := uint64(1)
	if s := os.Getenv("REACH_TEST_KILL_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "REACH_TEST_KILL_SEED")
	}
	t.Logf("seed %d (REACH_TEST_KILL_SEED)", seed)

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := startServe(t, dir, "--preshared-key", "k")
	c := p.client(t, "k")
	_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema})
	require.NoError(t, err)

	var tokens []killToken // of every acknowledged write and delete
	for round := range rounds {
		w := &killWorkload{round: round, seed: seed, rng: rand.New(rand.NewPCG(seed, uint64(round)))}
		w.run(ctx, p, c)

		code, stdout, stderr := reach(t, "", "--data-dir", dir, "datastore", "check")
		require.Equal(t, exitOK, code, "round %d: reach datastore check after the kill: %s%s", round, stdout, stderr)

		p = startServe(t, dir, "--preshared-key", "k")
		c = p.client(t, "k")
		w.verify(t, ctx, c, &tokens)
	}
}

// killAck is what a client saw of one call.
type killAck struct {
	sent  bool         // the call was made (for deletes: a group is deleted only once written)
	acked bool         // the response came back
	token *v1.ZedToken // the revision it returned (writes and deletes)
}

// killGroup is the relationships of one WriteRelationships batch: n
// relationships on documents prefix0 … prefix(n-1), which nothing else
// touches, maybe deleted afterwards by a DeleteRelationships whose filter
// is the prefix.
type killGroup struct {
	prefix          string
	n               int
	create, deleted killAck
}

// killImport is one ImportBulkRelationships stream: n relationships on
// documents prefix0 … prefix(n-1), in that order.
type killImport struct {
	prefix string
	n      int
	acked  bool
}

type killWorkload struct {
	round int
	seed  uint64
	rng   *rand.Rand
	delay time.Duration

	mu         sync.Mutex
	groups     []*killGroup
	imports    []*killImport
	unexpected []string // errors before the kill
	killed     atomic.Bool
}

// The clients of a round: importers, writers, and one deleter.
const (
	killImporters = 2
	killWriters   = 3
)

// run starts the clients, kills p after a random delay, and waits until
// the clients and p are done.
func (w *killWorkload) run(ctx context.Context, p *serveProcess, c *authzed.Client) {
	w.delay = time.Duration(20+w.rng.IntN(700)) * time.Millisecond
	var wg sync.WaitGroup
	rng := func(i int) *rand.Rand { return rand.New(rand.NewPCG(w.seed, uint64(w.round)<<8|uint64(i))) }
	for i := range killImporters {
		wg.Go(func() { w.importer(ctx, c, i, rng(i)) })
	}
	wg.Go(func() { w.deleter(ctx, c, rng(killImporters)) })
	for i := range killWriters {
		wg.Go(func() { w.writer(ctx, c, i, rng(killImporters+1+i)) })
	}
	time.Sleep(w.delay)
	w.killed.Store(true)
	p.cmd.Process.Signal(syscall.SIGKILL)
	wg.Wait()
	<-p.done
}

// failed records err; true when the client should stop (the server is
// gone, or the call failed for a reason of its own, which the test reports).
func (w *killWorkload) failed(what string, err error) bool {
	if err == nil {
		return false
	}
	if !w.killed.Load() {
		w.mu.Lock()
		w.unexpected = append(w.unexpected, fmt.Sprintf("%s: %v", what, err))
		w.mu.Unlock()
	}
	return true
}

// create writes g in one WriteRelationships call.
func (w *killWorkload) create(ctx context.Context, c *authzed.Client, g *killGroup) bool {
	ups := make([]*v1.RelationshipUpdate, g.n)
	for j := range ups {
		ups[j] = &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel(g.prefix+strconv.Itoa(j), "u"+strconv.Itoa(j%5))}
	}
	w.mu.Lock()
	w.groups = append(w.groups, g)
	w.mu.Unlock()
	resp, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: ups})
	if w.failed("write "+g.prefix, err) {
		return false
	}
	w.mu.Lock()
	g.create.acked, g.create.token = true, resp.GetWrittenAt()
	w.mu.Unlock()
	return true
}

// writer sends WriteRelationships batches of 1 to 300 relationships, one
// after another.
func (w *killWorkload) writer(ctx context.Context, c *authzed.Client, id int, rng *rand.Rand) {
	for i := 0; !w.killed.Load(); i++ {
		g := &killGroup{prefix: fmt.Sprintf("r%d-w%d-%d-", w.round, id, i), n: 1 + rng.IntN(300)}
		if !w.create(ctx, c, g) {
			return
		}
	}
}

// deleter writes a group of up to 1,000 relationships and deletes it by
// a filter on its prefix, one group after another. Each group is far under
// the 20,000 relationships that DeleteWhere removes in one atomic batch.
func (w *killWorkload) deleter(ctx context.Context, c *authzed.Client, rng *rand.Rand) {
	for i := 0; !w.killed.Load(); i++ {
		g := &killGroup{prefix: fmt.Sprintf("r%d-d%d-", w.round, i), n: 1 + rng.IntN(tuples.DefaultMaxBatch)}
		if !w.create(ctx, c, g) {
			return
		}
		w.mu.Lock()
		g.deleted.sent = true
		w.mu.Unlock()
		resp, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{
			ResourceType: "document", OptionalRelation: "viewer", OptionalResourceIdPrefix: g.prefix,
		}})
		if w.failed("delete "+g.prefix, err) {
			return
		}
		if resp.GetRelationshipsDeletedCount() != uint64(g.n) || resp.GetDeletionProgress() != v1.DeleteRelationshipsResponse_DELETION_PROGRESS_COMPLETE {
			w.failed("delete "+g.prefix, fmt.Errorf("deleted %d of %d (%v)", resp.GetRelationshipsDeletedCount(), g.n, resp.GetDeletionProgress()))
		}
		w.mu.Lock()
		g.deleted.acked, g.deleted.token = true, resp.GetDeletedAt()
		w.mu.Unlock()
	}
}

// importer streams imports of up to three store batches and a part of
// one, in messages of 1,000 relationships, one after another. (Two
// importers race for the store's revisions: Store.Import stages each batch
// at the revision it expects and stages it again when another write took
// that revision first.)
func (w *killWorkload) importer(ctx context.Context, c *authzed.Client, id int, rng *rand.Rand) {
	const perMessage = 1000
	for s := 0; !w.killed.Load(); s++ {
		im := &killImport{prefix: fmt.Sprintf("r%d-i%d-%d-", w.round, id, s), n: tuples.DefaultImportBatch*rng.IntN(4) + 1 + rng.IntN(tuples.DefaultImportBatch)}
		w.mu.Lock()
		w.imports = append(w.imports, im)
		w.mu.Unlock()
		what := "import " + im.prefix
		st, err := c.ImportBulkRelationships(ctx)
		if w.failed(what, err) {
			return
		}
		for k := 0; k < im.n; {
			req := &v1.ImportBulkRelationshipsRequest{}
			for ; k < im.n && len(req.Relationships) < perMessage; k++ {
				req.Relationships = append(req.Relationships, serveRel(im.prefix+strconv.Itoa(k), "u"+strconv.Itoa(k%5)))
			}
			if err := st.Send(req); err != nil {
				// The server ended the stream: its status comes with
				// CloseAndRecv.
				break
			}
		}
		resp, err := st.CloseAndRecv()
		if w.failed(what, err) {
			return
		}
		if resp.GetNumLoaded() != uint64(im.n) {
			w.failed(what, fmt.Errorf("loaded %d of %d", resp.GetNumLoaded(), im.n))
		}
		w.mu.Lock()
		im.acked = true
		w.mu.Unlock()
	}
}

// killPrefix splits a document id of the workload into its batch's prefix
// and its index in the batch.
func killPrefix(id string) (string, int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return "", 0, false
	}
	k, err := strconv.Atoi(id[i+1:])
	return id[:i+1], k, err == nil
}

// verify checks, on the restarted server, what the clients saw.
func (w *killWorkload) verify(t *testing.T, ctx context.Context, c *authzed.Client, tokens0 *[]killToken) {
	t.Helper()
	require.Empty(t, w.unexpected, "round %d: calls failed before the kill", w.round)

	// The restarted server answers.
	_, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)

	// Everything of the round at the head, by batch: the indexes present.
	st, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{
		Consistency:                fullyConsistent,
		OptionalRelationshipFilter: &v1.RelationshipFilter{ResourceType: "document", OptionalRelation: "viewer", OptionalResourceIdPrefix: fmt.Sprintf("r%d-", w.round)},
	})
	require.NoError(t, err)
	stored := map[string]map[int]bool{}
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		for _, r := range resp.GetRelationships() {
			prefix, k, ok := killPrefix(r.GetResource().GetObjectId())
			require.True(t, ok, "a relationship the test did not write: %v", r)
			if stored[prefix] == nil {
				stored[prefix] = map[int]bool{}
			}
			require.False(t, stored[prefix][k], "%s%d twice", prefix, k)
			stored[prefix][k] = true
		}
	}
	// whole reports whether the indexes present are 0 … n-1 for some n, and n.
	whole := func(prefix string) (int, bool) {
		got := stored[prefix]
		for k := range got {
			if k >= len(got) {
				return len(got), false
			}
		}
		return len(got), true
	}
	known := map[string]bool{}

	var cut []string
	importsAcked := 0
	for _, im := range w.imports {
		known[im.prefix] = true
		n, ok := whole(im.prefix)
		require.True(t, ok, "round %d: import %s left %d relationships that are not a prefix of its stream", w.round, im.prefix, n)
		if im.acked {
			importsAcked++
			require.Equal(t, im.n, n, "round %d: acknowledged import %s lost relationships", w.round, im.prefix)
			continue
		}
		require.True(t, n%tuples.DefaultImportBatch == 0 || n == im.n,
			"round %d: import %s cut off with %d of %d relationships: not whole batches of %d", w.round, im.prefix, n, im.n, tuples.DefaultImportBatch)
		cut = append(cut, fmt.Sprintf("%d of %d", n, im.n))
	}

	// Groups: at the head, and at the revisions their tokens name.
	var tokens []killToken
	at := func(g *killGroup, tok *v1.ZedToken, want int, what string) killToken {
		return killToken{round: w.round, prefix: g.prefix, tok: tok, want: want, what: what}
	}
	var writesAcked, deletesAcked, inFlight int
	for _, g := range w.groups {
		known[g.prefix] = true
		n, ok := whole(g.prefix)
		require.True(t, ok && (n == 0 || n == g.n), "round %d: batch %s (%d relationships) is half there: %d", w.round, g.prefix, g.n, n)
		switch {
		case !g.create.acked:
			inFlight++ // absent or whole, as checked
		case g.deleted.acked:
			writesAcked++
			deletesAcked++
			require.Zero(t, n, "round %d: acknowledged delete of %s undone", w.round, g.prefix)
			tokens = append(tokens, at(g, g.create.token, g.n, "write"), at(g, g.deleted.token, 0, "delete"))
		case g.deleted.sent:
			writesAcked++
			inFlight++
			tokens = append(tokens, at(g, g.create.token, g.n, "write"))
		default:
			writesAcked++
			require.Equal(t, g.n, n, "round %d: acknowledged write of %s lost", w.round, g.prefix)
			tokens = append(tokens, at(g, g.create.token, g.n, "write"))
		}
	}
	for prefix := range stored {
		require.True(t, known[prefix], "round %d: relationships of %s, which no client sent", w.round, prefix)
	}

	// Each acknowledged batch at the revision its token names, and again
	// those of the earlier rounds: a token names the same state for good,
	// however many restarts and writes came after it (a store that lost
	// its head would give the revisions of lost writes out again).
	*tokens0 = append(*tokens0, tokens...)
	checkTokens(t, ctx, c, w.round, *tokens0)
	t.Logf("round %d: killed after %v; imports: %d acknowledged, cut off with %v; writes: %d acknowledged, deletes: %d acknowledged, %d calls in flight",
		w.round, w.delay, importsAcked, cut, writesAcked, deletesAcked, inFlight)
}

// killToken is what a batch's token names: want relationships under
// prefix at tok.
type killToken struct {
	round        int
	prefix, what string
	tok          *v1.ZedToken
	want         int
}

// checkTokens reads the batch of each token at its revision, in parallel,
// as they are many.
func checkTokens(t *testing.T, ctx context.Context, c *authzed.Client, round int, tokens []killToken) {
	t.Helper()
	errs := make(chan error, len(tokens))
	work := make(chan killToken)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for a := range work {
				n, err := countPrefix(ctx, c, a.prefix, &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: a.tok}})
				if err != nil {
					err = fmt.Errorf("%s of %s (round %d) at %s: %w", a.what, a.prefix, a.round, a.tok.GetToken(), err)
				} else if n != a.want {
					err = fmt.Errorf("%s of %s (round %d) acknowledged at %s: %d relationships there, want %d", a.what, a.prefix, a.round, a.tok.GetToken(), n, a.want)
				}
				errs <- err
			}
		})
	}
	for _, a := range tokens {
		work <- a
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "after the kill of round %d", round)
	}
}

// countPrefix counts the relationships on documents whose id starts with
// prefix. (Every filter of the test names the relation: the store's forward
// index runs type, relation, id, so an id prefix without the relation reads
// every relationship of the type, which grows round by round.)
func countPrefix(ctx context.Context, c *authzed.Client, prefix string, cons *v1.Consistency) (int, error) {
	st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency:        cons,
		RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document", OptionalRelation: "viewer", OptionalResourceIdPrefix: prefix},
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

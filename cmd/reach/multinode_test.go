package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/internal/pgtest"
)

// The multi-node tests run several `reach serve` processes on one
// PostgreSQL database (a throwaway cluster that internal/pgtest starts) and
// drive them with the authzed-go client, as a team behind a load balancer
// would.

// startNodes migrates a fresh database and starts n servers on it.
func startNodes(t *testing.T, uri string, n int) []*serveProcess {
	t.Helper()
	code, stdout, stderr := reach(t, "", "datastore", "migrate", "--datastore", "postgres", "--datastore-uri", uri)
	require.Equal(t, exitOK, code, "migrate: %s%s", stdout, stderr)
	nodes := make([]*serveProcess, n)
	for i := range nodes {
		nodes[i] = startServe(t, t.TempDir(), "--datastore", "postgres", "--datastore-uri", uri, "--preshared-key", "k")
	}
	return nodes
}

func atLeast(tok *v1.ZedToken) *v1.Consistency {
	return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
}

var fullyConsistent = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}

func docCheck(doc, perm, user string, c *v1.Consistency) *v1.CheckPermissionRequest {
	return &v1.CheckPermissionRequest{
		Consistency: c,
		Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: doc}, Permission: perm,
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: user}},
	}
}

func hasPermission(t *testing.T, ctx context.Context, c *authzed.Client, req *v1.CheckPermissionRequest) bool {
	t.Helper()
	resp, err := c.CheckPermission(ctx, req)
	require.NoError(t, err)
	return resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
}

func TestMultiNodeOnPostgres(t *testing.T) {
	uri := pgtest.NewDatabase(t)
	nodes := startNodes(t, uri, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	clients := make([]*authzed.Client, len(nodes))
	for i, p := range nodes {
		clients[i] = p.client(t, "k")
	}

	sw, err := clients[0].WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema})
	require.NoError(t, err)

	// Watch on node 2 from the schema write on: it must report the writes
	// made through every node, in commit order.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	ws, err := clients[2].Watch(watchCtx, &v1.WatchRequest{OptionalStartCursor: sw.GetWrittenAt()})
	require.NoError(t, err)
	type watched struct {
		doc, user string
		rev       string
	}
	events := make(chan watched, 100)
	go func() {
		defer close(events)
		for {
			resp, err := ws.Recv()
			if err != nil {
				return
			}
			for _, u := range resp.GetUpdates() {
				r := u.GetRelationship()
				events <- watched{r.GetResource().GetObjectId(), r.GetSubject().GetObject().GetObjectId(), resp.GetChangesThrough().GetToken()}
			}
		}
	}()

	// Cross-node tokens: a write on node i is seen by an at_least_as_fresh
	// check with its token on node i+1, at once.
	var written []watched
	for i := range 6 {
		doc, user := fmt.Sprintf("d%d", i), fmt.Sprintf("u%d", i)
		w, err := clients[i%3].WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel(doc, user)},
		}})
		require.NoError(t, err)
		require.True(t, hasPermission(t, ctx, clients[(i+1)%3], docCheck(doc, "view", user, atLeast(w.GetWrittenAt()))),
			"node %d does not see the write of node %d with its token", (i+1)%3, i%3)
		written = append(written, watched{doc: doc, user: user})
	}
	for i, want := range written {
		select {
		case got, ok := <-events:
			require.True(t, ok, "watch ended early")
			require.Equal(t, want.doc, got.doc, "watch event %d", i)
			require.Equal(t, want.user, got.user, "watch event %d", i)
		case <-time.After(20 * time.Second):
			t.Fatalf("watch on node 2 reported %d of %d writes", i, len(written))
		}
	}
	stopWatch()

	// A schema change through node 1 takes effect on every node.
	sw2, err := clients[1].WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema + `
definition folder {
	relation owner: user
	permission manage = owner
}
`})
	require.NoError(t, err)
	for i, c := range clients {
		resp, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
		require.NoError(t, err)
		require.Contains(t, resp.GetSchemaText(), "definition folder", "node %d reads the old schema", i)
		_, err = c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: atLeast(sw2.GetWrittenAt()),
			Resource:    &v1.ObjectReference{ObjectType: "folder", ObjectId: "f"}, Permission: "manage",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}},
		})
		require.NoError(t, err, "node %d does not know the new definition", i)
	}

	// Random writes through random nodes: every node's answers, cached or
	// not, agree with the model and with a fully consistent read.
	r := rand.New(rand.NewPCG(13, 1))
	model := map[[2]string]bool{}
	for _, w := range written {
		model[[2]string{w.doc, w.user}] = true
	}
	docs, users := []string{"d0", "d1", "d2", "d3"}, []string{"u0", "u1", "u2", "u3"}
	for round := range 15 {
		var ups []*v1.RelationshipUpdate
		seen := map[[2]string]bool{}
		for range 1 + r.IntN(4) {
			k := [2]string{docs[r.IntN(len(docs))], users[r.IntN(len(users))]}
			if seen[k] {
				continue
			}
			seen[k] = true
			op := v1.RelationshipUpdate_OPERATION_TOUCH
			if r.IntN(2) == 0 {
				op = v1.RelationshipUpdate_OPERATION_DELETE
			}
			model[k] = op == v1.RelationshipUpdate_OPERATION_TOUCH
			ups = append(ups, &v1.RelationshipUpdate{Operation: op, Relationship: serveRel(k[0], k[1])})
		}
		w, err := clients[r.IntN(3)].WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: ups})
		require.NoError(t, err)
		for _, d := range docs {
			for _, u := range users {
				want := model[[2]string{d, u}]
				for i, c := range clients {
					// Twice with the token (the second from the cache) and
					// once fully consistent.
					for range 2 {
						require.Equal(t, want, hasPermission(t, ctx, c, docCheck(d, "view", u, atLeast(w.GetWrittenAt()))),
							"round %d: node %d, %s viewer %s (at least as fresh)", round, i, d, u)
					}
					require.Equal(t, want, hasPermission(t, ctx, c, docCheck(d, "view", u, fullyConsistent)),
						"round %d: node %d, %s viewer %s (fully consistent)", round, i, d, u)
				}
			}
		}
	}
}

// TestPostgresFaults stops PostgreSQL while clients write through two nodes
// and starts it again, then kills a node with SIGKILL: writes fail with
// Unavailable while the database is gone, work again afterwards without
// restarting the nodes, and every acknowledged write is whole.
func TestPostgresFaults(t *testing.T) {
	cluster := pgtest.NewCluster(t) // its own: the test stops it
	uri := cluster.NewDatabase(t)
	nodes := startNodes(t, uri, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	clients := []*authzed.Client{nodes[0].client(t, "k"), nodes[1].client(t, "k")}
	_, err := clients[0].WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema})
	require.NoError(t, err)

	var mu sync.Mutex
	var acked []string
	codesSeen := map[codes.Code]int{}
	var n int
	write := func(c *authzed.Client, doc string) error {
		// Two relationships per write: both or neither survive.
		_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel(doc, "ana")},
			{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel(doc, "bo")},
		}})
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			acked = append(acked, doc)
		} else {
			codesSeen[status.Code(err)]++
		}
		return err
	}
	writers := func(stop <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					n++
					doc := fmt.Sprintf("w%d-%d", w, n)
					mu.Unlock()
					if err := write(clients[w%2], doc); err != nil {
						time.Sleep(20 * time.Millisecond)
					}
				}
			}()
		}
		return &wg
	}

	stop := make(chan struct{})
	wg := writers(stop)
	time.Sleep(time.Second)
	require.NoError(t, cluster.Stop())
	time.Sleep(2 * time.Second)
	mu.Lock()
	unavailable := codesSeen[codes.Unavailable]
	mu.Unlock()
	require.NoError(t, cluster.Start())
	// Writes work again, through both nodes, without restarting them.
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		if write(clients[0], fmt.Sprintf("after-a%d", i)) == nil && write(clients[1], fmt.Sprintf("after-b%d", i)) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 60 s after PostgreSQL came back: %v", codesSeen)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// SIGKILL node 0 while the writers run.
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, nodes[0].cmd.Process.Signal(syscall.SIGKILL))
	<-nodes[0].done
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, unavailable, "no write failed with Unavailable while PostgreSQL was stopped: %v", codesSeen)
	for c := range codesSeen {
		require.Contains(t, []codes.Code{codes.Unavailable, codes.Canceled, codes.DeadlineExceeded}, c,
			"writes failed with %s (%d times): want Unavailable", c, codesSeen[c])
	}

	// Every acknowledged write is whole on the surviving node and on a new
	// one; no write is half there.
	fresh := startServe(t, t.TempDir(), "--datastore", "postgres", "--datastore-uri", uri, "--preshared-key", "k")
	for _, c := range []*authzed.Client{clients[1], fresh.client(t, "k")} {
		st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
			Consistency:        fullyConsistent,
			RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
		})
		require.NoError(t, err)
		stored := map[string]int{}
		for {
			r, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			stored[r.GetRelationship().GetResource().GetObjectId()]++
		}
		for _, doc := range acked {
			require.Equal(t, 2, stored[doc], "acknowledged write of %s lost", doc)
		}
		for doc, k := range stored {
			require.Equal(t, 2, k, "write of %s is half there", doc)
		}
		t.Logf("%d writes acknowledged, %d stored; failures by code: %v", len(acked), len(stored), codesSeen)
	}
}

// The local commands work on a postgres datastore as they do on the
// embedded one, so an operator can use the CLI on the servers' database;
// a server or command on a database that was never migrated says what to
// run.
func TestLocalCommandsOnPostgres(t *testing.T) {
	uri := pgtest.NewDatabase(t)
	pg := []string{"--datastore", "postgres", "--datastore-uri", uri}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return reach(t, "", append(append([]string{}, pg...), args...)...)
	}

	code, _, stderr := run("tuple", "read")
	require.Equal(t, exitError3, code, stderr)
	require.Contains(t, stderr, "reach datastore migrate")
	p := startServeFails(t, append(pg, "--preshared-key", "k")...)
	require.Contains(t, p, "reach datastore migrate")

	code, stdout, stderr := run("datastore", "migrate")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "migrated the datastore from version 0")
	code, stdout, _ = run("datastore", "migrate")
	require.Equal(t, exitOK, code)
	require.Contains(t, stdout, "nothing to do")

	code, _, stderr = run("schema", "write", tdir+"docs.zed")
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = run("tuple", "import", tdir+"rels.txt")
	require.Equal(t, exitOK, code, stderr)
	code, stdout, stderr = run("check", "document:q3", "view", "user:ana")
	require.Equal(t, exitOK, code, "%s%s", stdout, stderr)
	code, _, _ = run("check", "document:q3", "view", "user:nobody")
	require.Equal(t, exitNo, code)
	// The same answer with the prefetch off, and with a single row read along.
	for _, rows := range []string{"0", "1"} {
		code, stdout, stderr = run("--datastore-prefetch-rows", rows, "check", "document:q3", "view", "user:ana")
		require.Equal(t, exitOK, code, "--datastore-prefetch-rows %s: %s%s", rows, stdout, stderr)
	}

	// The same data as the embedded store gives, line for line.
	dir := t.TempDir()
	reach(t, "", "--data-dir", dir, "schema", "write", tdir+"docs.zed")
	reach(t, "", "--data-dir", dir, "tuple", "import", tdir+"rels.txt")
	_, local, _ := reach(t, "", "--data-dir", dir, "tuple", "export")
	_, remote, _ := run("tuple", "export")
	require.ElementsMatch(t, strings.Split(local, "\n"), strings.Split(remote, "\n"))

	for _, bad := range [][]string{
		{"--datastore", "postgres", "tuple", "read"},
		{"--datastore", "postgres", "--datastore-uri", uri, "serve", "--in-memory", "--insecure-no-auth"},
	} {
		t.Setenv(envDatastoreURI, "")
		code, _, stderr := reach(t, "", bad...)
		require.Equal(t, exitUsage, code, "%v: %s", bad, stderr)
	}
}

// startServeFails runs `reach serve` with args and returns its output once
// it exits, which it must do promptly.
func startServeFails(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", ""}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", presharedKeyEnv+"=")
	done := make(chan struct{})
	var out []byte
	go func() {
		out, _ = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("reach serve did not refuse the database")
	}
	require.NotEqual(t, 0, cmd.ProcessState.ExitCode())
	return string(out)
}

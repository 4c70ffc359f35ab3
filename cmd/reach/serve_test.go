package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The tests of `reach serve` run the real command in a child process: the
// test binary itself, which runs reach's main when this variable is set.
const runMainEnv = "REACH_TEST_RUN_MAIN"

func init() {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

func TestServeUsageErrors(t *testing.T) {
	t.Setenv(presharedKeyEnv, "")
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key", nil, "a preshared key is required"},
		{"insecure on every interface", []string{"--insecure-no-auth", "--grpc-addr", ":50051"}, "only on loopback"},
		{"insecure on a public http address", []string{"--insecure-no-auth", "--http-addr", "0.0.0.0:8443"}, "only on loopback"},
		{"insecure on a public metrics address", []string{"--insecure-no-auth", "--metrics-addr", "0.0.0.0:9090"}, "not --metrics-addr 0.0.0.0:9090"},
		{"negative message size", []string{"--preshared-key", "k", "--max-message-bytes", "-1"}, "--max-message-bytes cannot be negative, not -1"},
		{"negative request timeout", []string{"--preshared-key", "k", "--request-timeout", "-5s"}, "--request-timeout cannot be negative, not -5s"},
		{"negative preconditions (SpiceDB's name)", []string{"--preshared-key", "k", "--update-relationships-max-preconditions-per-call", "-1"}, "--update-relationships-max-preconditions-per-call cannot be negative"},
		{"negative preconditions (alias)", []string{"--preshared-key", "k", "--write-relationships-max-preconditions-per-call", "-1"}, "cannot be negative"},
		{"negative limit", []string{"--preshared-key", "k", "--max-read-relationships-limit", "-1"}, "--max-read-relationships-limit cannot be negative"},
		{"negative http timeout", []string{"--preshared-key", "k", "--http-read-timeout", "-1s"}, "--http-read-timeout cannot be negative"},
		{"negative connections", []string{"--preshared-key", "k", "--http-max-connections", "-3"}, "--http-max-connections cannot be negative"},
		{"negative lookup results", []string{"--preshared-key", "k", "--max-lookup-results", "-1"}, "--max-lookup-results cannot be negative, not -1"},
		{"insecure with a key", []string{"--insecure-no-auth", "--preshared-key", "k"}, "exclude each other"},
		{"empty key", []string{"--preshared-key", " "}, "cannot be empty"},
		{"cert without key", []string{"--preshared-key", "k", "--tls-cert", "c.pem"}, "go together"},
		{"bad log level", []string{"--preshared-key", "k", "--log-level", "loud"}, "--log-level"},
		{"argument", []string{"--preshared-key", "k", "extra"}, "unknown command"},
		{"playground without http", []string{"--preshared-key", "k", "--playground", "--http-addr", ""}, "--playground is served on --http-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := reach(t, "", append([]string{"serve", "--data-dir", dir}, tt.args...)...)
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, tt.want)
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.1.2.3:1": true, "[::1]:1": true, "localhost:1": true,
		":1": false, "0.0.0.0:1": false, "[::]:1": false, "10.0.0.1:1": false, "example.com:1": false, "nonsense": false,
	} {
		require.Equal(t, want, isLoopback(addr), addr)
	}
}

// serveProcess is `reach serve` running in a child process.
type serveProcess struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	done     chan struct{} // closed when the process has exited
	mu       sync.Mutex
	log      strings.Builder
}

var listenRE = regexp.MustCompile(`msg="serving (gRPC|HTTP gateway)" addr=(\S+)`)

// startServe starts `reach serve` on loopback ports chosen by the system
// and waits until it listens.
func startServe(t *testing.T, dataDir string, args ...string) *serveProcess {
	t.Helper()
	return startServeEnv(t, dataDir, nil, args...)
}

// startServeEnv is startServe with variables added to its environment.
func startServeEnv(t *testing.T, dataDir string, env []string, args ...string) *serveProcess {
	t.Helper()
	all := append([]string{"serve", "--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--metrics-addr", ""}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1", presharedKeyEnv+"="), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &serveProcess{cmd: cmd, done: make(chan struct{})}
	ready, read := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			if m := listenRE.FindStringSubmatch(line); m != nil {
				if m[1] == "gRPC" {
					p.grpcAddr = m[2]
				} else {
					p.httpAddr = m[2]
				}
				if p.grpcAddr != "" && p.httpAddr != "" {
					close(ready)
				}
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		// Wait closes the pipe: only after the last line was read, or a
		// line written just before exit ("store closed") could be lost.
		<-read
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("reach serve exited: %s", p.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("reach serve did not start: %s", p.logs())
	}
	return p
}

func (p *serveProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearerToken) RequireTransportSecurity() bool { return false }

func (p *serveProcess) client(t *testing.T, key string) *authzed.Client {
	t.Helper()
	c, err := authzed.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearerToken(key)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

const serveSchema = `definition user {}

definition document {
	relation viewer: user
	permission view = viewer
}
`

func serveRel(doc, user string) *v1.Relationship {
	return &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: doc}, Relation: "viewer",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: user}},
	}
}

func TestServeBinary(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, "--preshared-key", "k1", "--grpc-preshared-key", "k2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := p.client(t, "k2")
	_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema})
	require.NoError(t, err)
	w, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel("d1", "ana")},
	}})
	require.NoError(t, err)
	check := &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.GetWrittenAt()}},
		Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "d1"}, Permission: "view",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}},
	}
	resp, err := p.client(t, "k1").CheckPermission(ctx, check)
	require.NoError(t, err)
	require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())
	_, err = p.client(t, "wrong").CheckPermission(ctx, check)
	require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)

	// SIGTERM: a graceful stop that closes the store.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("reach serve did not stop on SIGTERM")
	}
	require.Equal(t, 0, p.cmd.ProcessState.ExitCode(), p.logs())
	require.Contains(t, p.logs(), "store closed")

	// The data is there after a restart.
	p = startServe(t, dir, "--preshared-key", "k1")
	check.Consistency = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	resp, err = p.client(t, "k1").CheckPermission(ctx, check)
	require.NoError(t, err)
	require.Equal(t, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, resp.GetPermissionship())
}

// --max-lookup-results reaches the engine: a LookupSubjects whose
// wildcard excludes more subjects than that is refused with
// ResourceExhausted (the status of server/errors.go), one at the bound is
// answered.
func TestServeMaxLookupResults(t *testing.T) {
	p := startServe(t, t.TempDir(), "--preshared-key", "k", "--max-lookup-results", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := p.client(t, "k")
	_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: `definition user {}

definition document {
	relation viewer: user | user:*
	relation banned: user
	permission view = viewer - banned
}
`})
	require.NoError(t, err)
	write := func(rel, user string) {
		t.Helper()
		r := serveRel("d1", user)
		r.Relation = rel
		_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r},
		}})
		require.NoError(t, err)
	}
	lookup := func() ([]*v1.LookupSubjectsResponse, error) {
		t.Helper()
		st, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
			Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "d1"}, Permission: "view", SubjectObjectType: "user",
		})
		require.NoError(t, err)
		var out []*v1.LookupSubjectsResponse
		for {
			m, err := st.Recv()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, m)
		}
	}
	write("viewer", "*")
	write("banned", "b1")
	write("banned", "b2")
	got, err := lookup()
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "*", got[0].GetSubject().GetSubjectObjectId())
	require.Len(t, got[0].GetExcludedSubjects(), 2)

	write("banned", "b3")
	_, err = lookup()
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.Contains(t, status.Convert(err).Message(), "the wildcard user:* excludes more than 2")
}

// TestServeSIGKILLDuringWrites kills the server while clients write; after
// a restart every write the server acknowledged must be there.
func TestServeSIGKILLDuringWrites(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, "--preshared-key", "k")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := p.client(t, "k")
	_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema})
	require.NoError(t, err)

	const writers = 4
	perWriter := 2000
	killAfter := 400
	if testing.Short() {
		perWriter, killAfter = 500, 100
	}
	var mu sync.Mutex
	var acked []string
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				doc := fmt.Sprintf("w%d-%d", w, i)
				// Two relationships per write: both or neither survive.
				_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
					{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel(doc, "ana")},
					{Operation: v1.RelationshipUpdate_OPERATION_CREATE, Relationship: serveRel(doc, "bo")},
				}})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, doc)
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() {
						p.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the writers finished before the kill")
	}
	<-p.done

	p = startServe(t, dir, "--preshared-key", "k")
	st, err := p.client(t, "k").ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
	})
	require.NoError(t, err)
	stored := map[string]int{}
	for {
		r, err := st.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		stored[r.GetRelationship().GetResource().GetObjectId()]++
	}
	for _, doc := range acked {
		require.Equal(t, 2, stored[doc], "acknowledged write of %s lost", doc)
	}
	for doc, n := range stored {
		require.Equal(t, 2, n, "write of %s is half there", doc)
	}
	t.Logf("%d writes acknowledged before the kill, %d found after restart", len(acked), len(stored))
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/bench"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/server"
	"github.com/reach-authz/reach/tuples"
)

const remoteTestKey = "remote-test-key"

// startRemote runs a server (package server, as reach serve does) over an
// in-memory store on a loopback port and returns its gRPC address.
func startRemote(t *testing.T) string {
	t.Helper()
	return startRemoteTLS(t, nil)
}

// startRemoteTLS is startRemote serving TLS with tlsCfg (nil: plaintext).
func startRemoteTLS(t *testing.T, tlsCfg *tls.Config) string {
	t.Helper()
	st, err := tuples.Open("", tuples.Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	// Quantization -1: minimize_latency reads the head, as the CLI's
	// fresh engine does, so that both answer from the same revision.
	eng := engine.New(st, engine.Options{Quantization: -1})
	srv, err := server.New(st, eng, server.Config{
		PresharedKeys: []string{remoteTestKey},
		TLS:           tlsCfg,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, server.Listeners{GRPC: l}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
		st.Close()
	})
	return l.Addr().String()
}

// remoteStep is one command run both locally and remotely.
type remoteStep struct {
	stdin string
	args  string
	// stderr: compare the standard error too (by default only the exit
	// status and the standard output are compared: the server words its
	// refusals in its own way).
	stderr bool
}

// TestRemoteMatchesLocal runs the same commands on a local store and on a
// server, each starting empty, and requires the same exit statuses and the
// same output.
func TestRemoteMatchesLocal(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	dir := t.TempDir()
	tmp := t.TempDir()
	// docs.zed without its caveat: Expand over the API carries no caveat
	// names, the rest is the same.
	plain := filepath.Join(tmp, "plain.zed")
	if err := os.WriteFile(plain, []byte(`definition user {}

definition group {
  relation member: user | group#member
}

definition document {
  relation owner: user
  relation banned: user
  relation viewer: user | user:* | group#member
  permission edit = owner
  permission view = (viewer + edit) - banned
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []remoteStep{
		{args: "schema read", stderr: false},
		{args: "tuple write document:q3#viewer@user:ana"},
		{args: "schema write " + tdir + "broken.zed", stderr: true},
		{args: "schema write " + plain, stderr: true},
		{args: "tuple write document:q3#owner@user:ana document:q3#viewer@group:eng#member"},
		{stdin: "group:eng#member@user:bo\n\n# a comment\ngroup:eng#member@user:cy\n", args: "tuple write -"},
		{args: "tuple write --create group:eng#member@user:bo"},
		{args: "tuple write document:q3#editor@user:ana"},
		{args: "tuple write document:q3#viewer@user:a!", stderr: true},
		{args: "tuple write --must-not-match document:q3#owner document:q3#viewer@user:dan"},
		{args: "tuple write --must-match document:q3#owner document:q3#viewer@user:dan document:q4#viewer@user:* document:q4#banned@user:eve"},
		{args: "tuple read document:q3#viewer", stderr: true},
		{args: "tuple read @group:eng#member", stderr: true},
		{args: "tuple read group", stderr: true},
		{args: "-o json tuple read document:q3"},
		{args: "tuple read document:q3#Viewer", stderr: true},
		{args: "tuple read document#viewr", stderr: true},
		{args: "tuple export documnt", stderr: true},
		{args: "tuple delete --filter document#view", stderr: true},
		{args: "check document:q3 view user:ana", stderr: true},
		{args: "check document:q3 view user:zed", stderr: true},
		{args: "check document:q3 view user:cy --consistency fully_consistent", stderr: true},
		{args: "check document:q3 edit group:eng#member", stderr: true},
		{args: "-o json check document:q4 view user:eve"},
		{args: "check document:q3 nosuch user:ana"},
		{args: "check document:q3 view user:ana --consistency at_exact_snapshot", stderr: true},
		{args: "check document:q3 view nope", stderr: true},
		{args: "expand document:q3 view", stderr: true},
		{args: "-o json expand group:eng member"},
		{args: "lookup resources document view user:ana", stderr: true},
		{args: "lookup resources document view user:bo", stderr: true},
		{args: "-o json lookup resources document view user:cy"},
		{args: "lookup subjects document:q3 view user", stderr: true},
		{args: "lookup subjects document:q4 view user", stderr: true},
		{args: "-o json lookup subjects document:q3 view group#member"},
		{args: "tuple delete document:q3#viewer@group:eng#member"},
		{args: "tuple import --progress none " + tdir + "rels.txt", stderr: true},
		{args: "tuple import --progress none --batch-size 2 " + tdir + "bad.txt", stderr: true},
		{args: "tuple import --progress none --skip-invalid " + tdir + "bad.txt", stderr: true},
		{args: "tuple import --progress none " + tdir + "model.yaml"},
		{args: "tuple export", stderr: true},
		{args: "tuple export document:q4", stderr: true},
		{args: "-o json tuple export group"},
		{args: "tuple read", stderr: true},
		{args: "tuple delete --filter document:a* --limit 2"},
		{args: "tuple delete --filter document:a*"},
		{args: "tuple delete --filter @user:*"},
		{args: "tuple read document", stderr: true},
		{args: "schema write " + tdir + "orphaning.zed"},
		{args: "schema read", stderr: true},
		{args: "-o json schema write " + plain},
	}
	compareRemote(t, dir, addr, steps)
}

// remoteTokens masks what differs between two stores given the same
// commands: their revisions (and import timings).
var remoteTokens = regexp.MustCompile(`"token": "[^"]*"|"revision": "[^"]*"|"revision": [0-9]+|revision: \S+|[0-9.]+s, [0-9,]+/s\)`)

// compareRemote runs each step on the store in dir and on the server at
// addr and requires the same exit status and output. The remote runs get an
// empty --data-dir of their own, which must stay empty.
func compareRemote(t *testing.T, dir, addr string, steps []remoteStep) {
	t.Helper()
	tokens := remoteTokens
	unused := t.TempDir()
	defer func() {
		if entries, _ := os.ReadDir(unused); len(entries) > 0 {
			t.Errorf("a command with --endpoint wrote into --data-dir")
		}
	}()
	for _, st := range steps {
		args := strings.Fields(st.args)
		lcode, lout, lerr := reach(t, st.stdin, append([]string{"--data-dir", dir}, args...)...)
		rcode, rout, rerr := reach(t, st.stdin, append([]string{"--data-dir", unused, "--endpoint", addr, "--token", remoteTestKey}, args...)...)
		if lcode != rcode {
			t.Errorf("reach %s: exit %d locally, %d remotely\nlocal stderr: %s\nremote stderr: %s", st.args, lcode, rcode, lerr, rerr)
			continue
		}
		// The revisions of the two stores need not agree.
		lout, rout = tokens.ReplaceAllString(lout, "REV"), tokens.ReplaceAllString(rout, "REV")
		if lout != rout {
			t.Errorf("reach %s: stdout differs\n--- local:\n%s--- remote:\n%s", st.args, lout, rout)
		}
		lerr = strings.ReplaceAll(lerr, dir, "STORE")
		rerr = strings.ReplaceAll(rerr, "the server at "+addr, "STORE")
		if st.stderr && tokens.ReplaceAllString(lerr, "REV") != tokens.ReplaceAllString(rerr, "REV") {
			t.Errorf("reach %s: stderr differs\n--- local:\n%s--- remote:\n%s", st.args, lerr, rerr)
		}
	}
}

// TestRemoteCursors pages through lookups and reads with each side's own
// cursors and requires the same pages.
func TestRemoteCursors(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	dir := t.TempDir()
	setup := [][]string{
		{"schema", "write", tdir + "docs.zed"},
		{"tuple", "import", "--progress", "none", tdir + "rels.txt"},
		{"tuple", "write", "document:a1#viewer@user:ana", "document:a2#viewer@user:ana", "document:a3#viewer@user:ana", "document:a6#viewer@user:ana", "document:b1#owner@user:ana"},
	}
	local := []string{"--data-dir", dir}
	remote := []string{"--endpoint", addr, "--token", remoteTestKey}
	for _, args := range setup {
		for _, where := range [][]string{local, remote} {
			if code, _, stderr := reach(t, "", append(append([]string{}, where...), args...)...); code != 0 {
				t.Fatalf("%v %v: exit %d: %s", where, args, code, stderr)
			}
		}
	}
	// Caveats: conditional answers read the same remotely.
	compareRemote(t, dir, addr, []remoteStep{
		{args: "check document:q4 view user:dee", stderr: true},
		{args: "-o json check document:q4 view user:dee"},
		{stdin: "document:q5#viewer@user:dee[only_weekdays]\n", args: "tuple write -"},
		{args: "check document:q5 view user:dee", stderr: true},
		{args: "lookup resources document view user:dee", stderr: true},
		{args: "lookup subjects document:q5 view user", stderr: true},
		{args: "-o json lookup subjects document:q4 view user"},
		{args: "tuple read document:q5", stderr: true},
		{args: "-o json tuple read document:q5"},
	})
	page := func(where []string, args []string, cursorLine *regexp.Regexp) []string {
		var pages []string
		cursor := ""
		for range 10 {
			a := append(append([]string{}, where...), args...)
			if cursor != "" {
				a = append(a, "--cursor", cursor)
			}
			code, stdout, stderr := reach(t, "", a...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", a, code, stderr)
			}
			pages = append(pages, stdout)
			m := cursorLine.FindStringSubmatch(stderr)
			if m == nil {
				return pages
			}
			cursor = m[1]
		}
		t.Fatalf("%v: more than 10 pages", args)
		return nil
	}
	for _, tt := range []struct {
		args   []string
		cursor *regexp.Regexp
	}{
		{[]string{"lookup", "resources", "document", "view", "user:ana", "--limit", "2"}, regexp.MustCompile(`next cursor: (\S+)`)},
		{[]string{"tuple", "read", "document", "--limit", "3"}, regexp.MustCompile(`more: --cursor (\S+)`)},
		{[]string{"tuple", "read", "--limit", "4"}, regexp.MustCompile(`more: --cursor (\S+)`)},
	} {
		lp, rp := page(local, tt.args, tt.cursor), page(remote, tt.args, tt.cursor)
		if strings.Join(lp, "|") != strings.Join(rp, "|") {
			t.Errorf("%v: pages differ\nlocal:  %q\nremote: %q", tt.args, lp, rp)
		}
		if len(lp) < 2 {
			t.Errorf("%v: %d page(s): the test wants several", tt.args, len(lp))
		}
	}
}

// TestRemoteErrors covers what only happens remotely: the key, the
// connection, and the commands and flags that stay local.
func TestRemoteErrors(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	if code, _, stderr := reach(t, "", "--endpoint", addr, "--token", remoteTestKey, "schema", "write", tdir+"docs.zed"); code != 0 {
		t.Fatalf("schema write: exit %d: %s", code, stderr)
	}
	closed := func() string { // a loopback port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		l.Close()
		return a
	}()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // in stderr
	}{
		{"wrong key", nil, []string{"--endpoint", addr, "--token", "nope", "check", "document:q3", "view", "user:ana"}, exitError3, "refused the API key"},
		{"wrong key on a write", nil, []string{"--endpoint", addr, "--token", "nope", "tuple", "write", "group:eng#member@user:bo"}, exitError3, "refused the API key"},
		{"wrong key on schema read", nil, []string{"--endpoint", addr, "--token", "nope", "schema", "read"}, exitError3, "refused the API key"},
		{"no key", nil, []string{"--endpoint", addr, "lookup", "subjects", "document:q3", "view", "user"}, exitError3, "wants an API key"},
		{"key from the environment", map[string]string{"REACH_ENDPOINT": addr, "REACH_TOKEN": remoteTestKey}, []string{"check", "document:q3", "view", "user:ana"}, exitNo, ""},
		{"wrong key from the environment", map[string]string{"REACH_ENDPOINT": addr, "REACH_TOKEN": "nope"}, []string{"tuple", "read", "group"}, exitError3, "refused the API key"},
		{"no server", nil, []string{"--endpoint", closed, "--token", "k", "check", "document:q3", "view", "user:ana"}, exitError3, "cannot reach the server at " + closed},
		{"bad endpoint", nil, []string{"--endpoint", "no-port", "check", "document:q3", "view", "user:ana"}, exitUsage, "HOST:PORT"},
		{"token without endpoint", nil, []string{"--token", "k", "check", "document:q3", "view", "user:ana"}, exitUsage, "use --revision"},
		{"insecure without endpoint", nil, []string{"--insecure", "tuple", "read"}, exitUsage, "--insecure goes with --endpoint"},
		{"file", nil, []string{"--endpoint", addr, "--token", remoteTestKey, "check", "--file", "x.yaml", "document:q3", "view", "user:ana"}, exitUsage, "--file"},
		{"matrix", nil, []string{"--endpoint", addr, "matrix", "x.yaml"}, exitUsage, "reach matrix works on local data only"},
		{"validate", nil, []string{"--endpoint", addr, "validate", "x.yaml"}, exitUsage, "reach validate works on local data only"},
		{"serve", nil, []string{"--endpoint", addr, "serve"}, exitUsage, "works on local data only"},
		{"delete everything", nil, []string{"--endpoint", addr, "--token", remoteTestKey, "tuple", "delete", "--filter", ""}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, _, stderr := reach(t, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
		})
	}
}

// TestLocalOnlyHelp: matrix and validate say in their help that they stay
// local.
func TestLocalOnlyHelp(t *testing.T) {
	for _, c := range localOnlyCommands {
		code, stdout, _ := reach(t, "", c, "--help")
		if code != 0 || !strings.Contains(stdout, "works on local data only") {
			t.Errorf("reach %s --help (exit %d) does not say it works on local data only:\n%s", c, code, stdout)
		}
	}
}

// TestRemoteBench loads a small dataset into a server through the API and
// runs every workload against it: the answers must be the ones the data
// gives (bench exits 1 on a wrong answer or a failed operation). A second
// run with --no-load finds the data there.
func TestRemoteBench(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	remote := []string{"--endpoint", addr, "--token", remoteTestKey}
	args := append(append([]string{}, remote...), "bench", "--relationships", "400", "--count", "40", "--concurrency", "2", "-q", "-o", "json")
	code, stdout, stderr := reach(t, "", args...)
	if code != 0 {
		t.Fatalf("bench --endpoint: exit %d: %s\n%s", code, stderr, stdout)
	}
	var rep struct {
		Server string `json:"server"`
		Load   struct {
			Relationships int64 `json:"relationships"`
		} `json:"load"`
		Relationships int64 `json:"relationships"`
		Workloads     []struct {
			Name              string
			Ops, Unexpected   int64
			Errors, Cancelled int64
		} `json:"workloads"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Server != addr || rep.Load.Relationships != rep.Relationships || rep.Relationships == 0 {
		t.Errorf("server %q, loaded %d of %d relationships", rep.Server, rep.Load.Relationships, rep.Relationships)
	}
	if len(rep.Workloads) != len(bench.Workloads()) {
		t.Errorf("%d workloads ran, want %d", len(rep.Workloads), len(bench.Workloads()))
	}
	for _, w := range rep.Workloads {
		if w.Ops != 40 || w.Unexpected != 0 || w.Errors != 0 {
			t.Errorf("%s: %d ops, %d unexpected, %d errors", w.Name, w.Ops, w.Unexpected, w.Errors)
		}
	}
	// The data is there: a run without loading answers the same.
	args = append(append([]string{}, remote...), "bench", "--relationships", "400", "--count", "40", "--workload", "check,write-mix", "--no-load", "-q")
	if code, stdout, stderr := reach(t, "", args...); code != 0 || !strings.Contains(stdout, "holding the dataset already") {
		t.Fatalf("bench --endpoint --no-load: exit %d: %s\n%s", code, stderr, stdout)
	}
	// Several endpoints (nodes of one service; here two connections to the
	// one server): requests go to each in turn, writes' tokens are read on
	// the other, and the answers are still right.
	two := addr + "," + addr
	args = []string{"--endpoint", two, "--token", remoteTestKey, "bench", "--relationships", "400", "--count", "40", "--workload", "check,write-mix", "--no-load", "-q", "-o", "json"}
	if code, stdout, stderr := reach(t, "", args...); code != 0 || !strings.Contains(stdout, `"server": "`+two+`"`) {
		t.Fatalf("bench --endpoint %s: exit %d: %s\n%s", two, code, stderr, stdout)
	}
	if code, _, stderr := reach(t, "", "--endpoint", two, "--token", remoteTestKey, "check", "document:q3", "view", "user:ana"); code != exitUsage || !strings.Contains(stderr, "go only with reach bench") {
		t.Errorf("check with two endpoints: exit %d: %s", code, stderr)
	}
	// With the wrong key, the load fails with the key's message.
	code, _, stderr = reach(t, "", "--endpoint", addr, "--token", "nope", "bench", "--relationships", "400", "--count", "5", "-q")
	if code != exitError3 || !strings.Contains(stderr, "refused the API key") {
		t.Errorf("bench with a wrong key: exit %d: %s", code, stderr)
	}
	for _, bad := range [][]string{
		{"bench", "--no-load"},
		{"--endpoint", addr, "bench", "--cache-size", "10"},
		{"--endpoint", addr, "--data-dir", t.TempDir(), "bench"},
	} {
		if code, _, stderr := reach(t, "", bad...); code != exitUsage {
			t.Errorf("reach %v: exit %d, want %d: %s", bad, code, exitUsage, stderr)
		}
	}
}

// TestRemoteTLS: with --ca-cert the client talks TLS (even to a loopback
// address) and checks the server's certificate; plaintext to a TLS server,
// or TLS without the CA, fails with exit status 3.
func TestRemoteTLS(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "reach test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(other, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startRemoteTLS(t, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12})
	base := []string{"--endpoint", addr, "--token", remoteTestKey}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"with the CA", []string{"--ca-cert", ca, "schema", "write", tdir + "docs.zed"}, exitOK, ""},
		{"check with the CA", []string{"--ca-cert", ca, "check", "document:q3", "view", "user:ana"}, exitNo, ""},
		{"plaintext to TLS", []string{"check", "document:q3", "view", "user:ana"}, exitError3, "cannot reach the server"},
		{"insecure to TLS", []string{"--insecure", "check", "document:q3", "view", "user:ana"}, exitError3, "cannot reach the server"},
		{"not a CA file", []string{"--ca-cert", other, "check", "document:q3", "view", "user:ana"}, exitError3, "no PEM certificate"},
		{"insecure and CA", []string{"--insecure", "--ca-cert", ca, "check", "document:q3", "view", "user:ana"}, exitUsage, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := reach(t, "", append(append([]string{}, base...), tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q in it)", code, tt.code, stderr, tt.want)
			}
		})
	}
}

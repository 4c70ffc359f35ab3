package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/tuples"
)

// A local command on a Badger directory that another process holds (a
// running server) names --endpoint instead of passing on Badger's lock error.
func TestLocalCommandOnHeldStoreNamesEndpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	held, err := tuples.Open(dir, tuples.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, _, stderr := reach(t, "", "--data-dir", dir, "tuple", "read")
	if code != exitError3 {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitError3, stderr)
	}
	for _, want := range []string{dir, "in use by another process", "--endpoint"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "Cannot acquire directory lock") {
		t.Errorf("stderr passes Badger's lock error on: %q", stderr)
	}
}

func TestDatastoreFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown driver", []string{"--datastore", "mysql", "tuple", "read"}, "--datastore must be"},
		{"uri without a network driver", []string{"--datastore-uri", "postgres://x", "tuple", "read"}, "--datastore-uri is for a network datastore"},
		{"replica without postgres", []string{"--datastore-read-replica-uri", "postgres://x", "tuple", "read"}, "needs --datastore postgres"},
		{"pool bounds", []string{"--datastore-conn-pool-max-open", "0", "tuple", "read"}, "connection pool"},
		{"prefetch without postgres", []string{"--datastore-prefetch-rows", "8", "tuple", "read"}, "--datastore-prefetch-rows needs --datastore postgres"},
		{"negative prefetch", []string{"--datastore", "postgres", "--datastore-uri", "postgres://x", "--datastore-prefetch-rows", "-1", "tuple", "read"}, "--datastore-prefetch-rows cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := reach(t, "", append([]string{"--data-dir", t.TempDir()}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

// --datastore-prefetch-rows reaches postgres.Options.PrefetchRows: the
// driver's default when not given, the count given, and 0 as the driver's
// "off" (a negative count).
func TestDatastorePrefetchRowsFlag(t *testing.T) {
	orig := drivers["postgres"]
	t.Cleanup(func() { drivers["postgres"] = orig })
	var got postgres.Options
	opened := errors.New("not opened: the test reads the options")
	d := orig
	d.open = func(_ context.Context, p openParams) (datastore.Datastore, error) {
		got = postgresOptions(p)
		return nil, opened
	}
	drivers["postgres"] = d

	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, postgres.DefaultPrefetchRows},
		{[]string{"--datastore-prefetch-rows", "8"}, 8},
		{[]string{"--datastore-prefetch-rows", "0"}, -1},
	} {
		got = postgres.Options{}
		args := append([]string{"--datastore", "postgres", "--datastore-uri", "postgres://x"}, tt.args...)
		code, _, stderr := reach(t, "", append(args, "tuple", "read")...)
		if code == exitOK || code == exitUsage || !strings.Contains(stderr, opened.Error()) {
			t.Fatalf("%v: exit %d, stderr %q; want the store opened", tt.args, code, stderr)
		}
		if got.PrefetchRows != tt.want {
			t.Errorf("%v: PrefetchRows %d, want %d", tt.args, got.PrefetchRows, tt.want)
		}
	}
}

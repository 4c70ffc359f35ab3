package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

// storeTable returns the largest table file of a store made by storeWith:
// the one holding the relationships.
func storeTable(t *testing.T, dir string) string {
	t.Helper()
	ts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ts) == 0 {
		t.Fatal("no table")
	}
	var best string
	var size int64
	for _, f := range ts {
		if fi, err := os.Stat(f); err == nil && fi.Size() > size {
			best, size = f, fi.Size()
		}
	}
	return best
}

func TestDatastoreCheck(t *testing.T) {
	dir := storeWith(t)
	code, stdout, stderr := reach(t, "", "--data-dir", dir, "datastore", "check")
	if code != exitOK || !strings.Contains(stdout, "healthy") || stderr != "" {
		t.Fatalf("a healthy store: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, _ = reach(t, "", "--data-dir", dir, "-o", "json", "datastore", "check")
	var rep tuples.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitOK {
		t.Fatalf("json: exit %d, %v\n%s", code, err, stdout)
	}
	if rep.Relationships == 0 || rep.Tables == 0 || len(rep.Problems) != 0 {
		t.Errorf("json report %+v", rep)
	}

	// Damage the table: the check names it and fails with 1.
	table := storeTable(t, dir)
	f, err := os.OpenFile(table, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.WriteAt([]byte("damage, damage, damage"), fi.Size()/3)
	f.Close()
	code, stdout, stderr = reach(t, "", "--data-dir", dir, "datastore", "check")
	if code != exitNo || !strings.Contains(stderr, filepath.Base(table)) || !strings.Contains(stdout, "1 problem found") {
		t.Fatalf("a damaged store: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, _ = reach(t, "", "--data-dir", dir, "-o", "json", "datastore", "check")
	rep = tuples.Report{}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitNo || len(rep.Problems) != 1 {
		t.Fatalf("json of a damaged store: exit %d, %v\n%s", code, err, stdout)
	}

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no store", []string{"--data-dir", t.TempDir(), "datastore", "check"}, exitError3, "no store"},
		{"no directory", []string{"--data-dir", filepath.Join(t.TempDir(), "none"), "datastore", "check"}, exitError3, "no such file"},
		{"remote", []string{"--endpoint", "127.0.0.1:1", "datastore", "check"}, exitUsage, "local data only"},
		{"arguments", []string{"datastore", "check", "x"}, exitUsage, "unknown command"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := reach(t, "", tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr %q, want %q in it", code, tt.code, stderr, tt.want)
			}
		})
	}
}

// Issue 12, findings 1 and 2 through the CLI: a damaged store makes every
// command fail (exit 3, naming the file), never answer from part of the data.
func TestDamagedStoreCommands(t *testing.T) {
	queries := [][]string{
		{"tuple", "export"},
		{"tuple", "read"},
		{"check", "document:q3", "view", "user:ana"},
	}
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		names  string
	}{
		{"torn MANIFEST", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, "MANIFEST"), 10) }, "MANIFEST"},
		{"no MANIFEST", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "MANIFEST")) }, "MANIFEST"},
		{"damaged table", func(t *testing.T, dir string) {
			table := storeTable(t, dir)
			data, _ := os.ReadFile(table)
			for i := len(data) / 4; i < len(data)/4+512 && i < len(data); i++ {
				data[i] ^= 0x5a
			}
			os.WriteFile(table, data, 0o644)
		}, ".sst"},
		{"table cut in half", func(t *testing.T, dir string) {
			table := storeTable(t, dir)
			fi, _ := os.Stat(table)
			os.Truncate(table, fi.Size()/2)
		}, ".sst"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := storeWith(t)
			if code, _, stderr := reach(t, "", "--data-dir", dir, "check", "document:q3", "view", "user:ana"); code != exitOK {
				t.Fatalf("before the damage: exit %d: %s", code, stderr)
			}
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			tt.damage(t, dir)
			for _, q := range queries {
				code, stdout, stderr := reach(t, "", append([]string{"--data-dir", dir}, q...)...)
				if code != exitError3 || stdout != "" || !strings.Contains(stderr, tt.names) || strings.Contains(stderr, "goroutine") {
					t.Errorf("%v on a store with a %s: exit %d\nstdout %q\nstderr %q", q, tt.name, code, stdout, stderr)
				}
			}
			after, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(after) != len(tables) {
				t.Errorf("tables before %q, after %q", tables, after)
			}
			if code, _, _ := reach(t, "", "--data-dir", dir, "datastore", "check"); code != exitNo {
				t.Errorf("datastore check: exit %d, want %d", code, exitNo)
			}
		})
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPlaygroundServes: `reach playground` prints its address on a free
// loopback port, serves the page and its API there, and stops when asked.
func TestPlaygroundServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetArgs([]string{"playground"})
	root.SetOut(pw)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "reach playground: ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0/") {
		t.Fatalf("printed %q", line)
	}
	resp, err := http.Get(url + "api/seeds")
	if err != nil {
		t.Fatal(err)
	}
	var seeds []map[string]string
	json.NewDecoder(resp.Body).Decode(&seeds)
	resp.Body.Close()
	if len(seeds) != 5 {
		t.Errorf("seeds %v", seeds)
	}
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "reach playground") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("page %d bytes, CSP %q", len(page), resp.Header.Get("Content-Security-Policy"))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestPlaygroundBadAddr(t *testing.T) {
	if code, _, stderr := reach(t, "", "playground", "--addr", "256.0.0.1:99999"); code != exitError3 || !strings.Contains(stderr, "playground") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

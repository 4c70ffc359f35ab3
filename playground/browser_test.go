package playground

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/reach-authz/reach/internal/testenv"
)

// updateDocs rewrites ../docs/playground.png (the README's picture) from the
// browser test's last step.
var updateDocs = flag.Bool("update-docs", false, "write the last screenshot of TestBrowser to docs/playground.png")

// chromium finds a headless browser: $REACH_CHROMIUM, else Debian's
// chromium, else another Chrome on the PATH.
func chromium() string {
	if p := os.Getenv("REACH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser drives the page in headless Chromium as a person would: load
// a seed model and see its matrix, introduce a schema error and see it
// marked at its line, run a check and see its proof graph, change a rule
// and see the matrix cells that flip, then reopen the page's link and find
// everything restored. Each step leaves a screenshot in $REACH_ARTIFACTS
// (a temporary directory by default).
//
// Without a browser the test is skipped, except in CI (CI=true), where it
// fails: CI installs Debian's chromium package. Under -short it is skipped
// outside CI only.
func TestBrowser(t *testing.T) {
	path := chromium()
	if path == "" {
		testenv.Missing(t, "no Chromium found: install Debian's chromium package (apt-get install -y chromium) or set REACH_CHROMIUM to run the browser test")
	}
	if testing.Short() && !testenv.InCI() {
		// In CI it runs under -short too: a browser test that no CI step
		// runs would be a skip that CI never notices.
		t.Skip("-short: the browser test takes tens of seconds")
	}
	artifacts := os.Getenv("REACH_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	srv := New(Options{})
	ts := httptest.NewServer(srv)
	defer func() { ts.Close(); srv.Close() }()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("hide-scrollbars", false), chromedp.WindowSize(1600, 1000))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// The first Run starts the browser; its context must not time out.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1600, 1000)); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	deadline := time.AfterFunc(90*time.Second, cancel)
	defer deadline.Stop()

	shot := func(name string) []byte {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		return png
	}
	eval := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	// waitFor waits until the expression is true and no request is in
	// flight.
	waitFor := func(what, expr string) {
		t.Helper()
		js := fmt.Sprintf("window.__reach && window.__reach.pending === 0 && !!(%s)", expr)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second)))
		for try := 0; err != nil && strings.Contains(err.Error(), "Cannot find context") && try < 5; try++ {
			// The page was replaced under the poll (a navigation): poll the
			// new one.
			time.Sleep(200 * time.Millisecond)
			_, err = chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second)))
		}
		if err != nil {
			shot("failed.png")
			t.Fatalf("waiting for %s (%s): %v; screenshot in %s", what, expr, err, artifacts)
		}
	}
	value := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	counter := func(name string) string { return value(fmt.Sprintf("String(window.__reach.%s)", name)) }
	// edit replaces text in an editor as typing would (an input event).
	edit := func(id, old, new string) {
		t.Helper()
		eval(fmt.Sprintf(`(() => {
			const ta = document.getElementById(%q);
			if (!ta.value.includes(%q)) throw new Error("no " + %q);
			ta.value = ta.value.replace(%q, %q);
			ta.dispatchEvent(new Event("input", {bubbles: true}));
		})()`, id, old, old, old, new))
	}

	// 1. The page opens on the gifting model: its picture and its sends
	// table, as the seed article's.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL)); err != nil {
		t.Fatal(err)
	}
	waitFor("the matrix of the gifting model", `window.__reach.matrix > 0 && document.querySelector("#graph-svg g.def[data-name=send]")`)
	cell := func(res, perm, subj string) string {
		return value(fmt.Sprintf(`(document.querySelector('#matrix-table td[data-resource=%q][data-permission=%q][data-subject=%q]') || {className: "missing"}).className`, res, perm, subj))
	}
	if c := cell("send:s1", "cancel", "user:uma"); c != "cell allowed" {
		t.Errorf("send:s1 cancel user:uma is %q, want allowed", c)
	}
	if c := cell("send:s1", "cancel", "user:sam"); c != "cell denied" {
		t.Errorf("send:s1 cancel user:sam is %q, want denied", c)
	}
	if s := value(`document.getElementById("status").textContent`); !strings.Contains(s, "726/726 assertions pass") {
		t.Errorf("status %q", s)
	}
	shot("1-seed-matrix.png")

	// 2. A schema error is marked at its line and column as it is typed.
	schemaText := value(`document.getElementById("schema-input").value`)
	line, col := 0, 0
	for i, l := range strings.Split(schemaText, "\n") {
		if j := strings.Index(l, "relation sender: user"); j >= 0 {
			line, col = i+1, j+len("relation sender: ")+1
			break
		}
	}
	if line == 0 {
		t.Fatal("the gifting schema has no `relation sender: user`")
	}
	analyzed := counter("analyzed")
	edit("schema-input", "relation sender: user", "relation sender: usr")
	waitFor("the schema error", fmt.Sprintf(`window.__reach.analyzed > %s && document.body.dataset.schemaValid === "false"`, analyzed))
	mark := fmt.Sprintf(`#schema-mirror .err-mark[data-line="%d"][data-col="%d"]`, line, col)
	if n := value(fmt.Sprintf(`String(document.querySelectorAll(%q).length)`, mark)); n != "1" {
		t.Errorf("no error mark at %d:%d (%s)", line, col, value(`String([...document.querySelectorAll(".err-mark")].map(m => m.dataset.line + ":" + m.dataset.col))`))
	}
	if n := value(fmt.Sprintf(`String(document.querySelectorAll('#schema-gutter .ln.error[data-line="%d"]').length)`, line)); n != "1" {
		t.Errorf("line %d is not marked in the gutter", line)
	}
	if msg := value(`document.querySelector("#schema-diagnostics li").textContent`); !strings.Contains(msg, `unknown definition "usr"`) || !strings.Contains(msg, fmt.Sprintf("%d:%d", line, col)) {
		t.Errorf("diagnostic %q", msg)
	}
	eval(`document.querySelector("#schema-diagnostics li").click()`)
	shot("2-schema-error.png")

	// 3. Fixed, a check shows its proof as a graph.
	analyzed = counter("analyzed")
	edit("schema-input", "relation sender: usr", "relation sender: user")
	waitFor("the schema fixed", fmt.Sprintf(`window.__reach.analyzed > %s && document.body.dataset.schemaValid === "true"`, analyzed))
	eval(`document.querySelector('#query-panel [data-tab="check"]').click()`)
	checks := counter("check")
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("check-resource"), "send:s1"),
		chromedp.SetValue(chromedp.ID("check-permission"), "cancel"),
		chromedp.SetValue(chromedp.ID("check-subject"), "user:dana"),
		chromedp.Click(chromedp.ID("check-run")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor("the proof", fmt.Sprintf(`window.__reach.check > %s && document.querySelector("#proof-svg g.node")`, checks))
	if a := value(`document.getElementById("check-answer").textContent`); a != "allowed" {
		t.Errorf("check answered %q", a)
	}
	nodes, _ := strconv.Atoi(value(`String(document.querySelectorAll("#proof-svg g.node").length)`))
	allowed, _ := strconv.Atoi(value(`String(document.querySelectorAll("#proof-svg g.node.allowed").length)`))
	if nodes < 5 || allowed != nodes {
		t.Errorf("proof of %d steps, %d allowed; want at least 5, all allowed", nodes, allowed)
	}
	if !strings.Contains(value(`document.getElementById("proof-svg").textContent`), "department:sales#admin@user:dana") {
		t.Error("the proof does not show dana's admin relationship")
	}
	shot("3-check-proof.png")

	// 4. Changing a rule marks the matrix cells it would flip.
	eval(`document.querySelector('#query-panel [data-tab="matrix"]').click()`)
	impacts := counter("impact")
	edit("schema-input", "permission cancel = sender + department->admins + organization->admins", "permission cancel = department->admins + organization->admins")
	waitFor("the flipped cells", fmt.Sprintf(`window.__reach.impact > %s && document.querySelector("#matrix-table td.flip")`, impacts))
	flipped := value(`[...document.querySelectorAll("#matrix-table td.flip")].map(td => td.dataset.resource + "#" + td.dataset.permission + "@" + td.dataset.subject).join(" ")`)
	if flipped != "send:s1#cancel@user:uma send:s2#cancel@user:steve" {
		t.Errorf("flipped cells %q, want the senders of s1 and s2 (s3's sender is not a column)", flipped)
	}
	if c := cell("send:s1", "cancel", "user:uma"); c != "cell denied flip" {
		t.Errorf("send:s1 cancel user:uma is %q, want denied and flipped", c)
	}
	if n := value(`document.getElementById("flip-count").textContent`); n != "4" {
		t.Errorf("%s answers flip in all, want 4 (s1, s2, s3 and globex's g1)", n)
	}
	if value(`String(!!document.querySelector("#graph-svg g.def.changed[data-name=send]"))`) != "true" {
		t.Error("the picture does not mark send as changed")
	}
	last := shot("4-rule-change-flips.png")
	if err := os.WriteFile(filepath.Join(artifacts, "playground.png"), last, 0o644); err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		if err := os.WriteFile(filepath.Join("..", "docs", "playground.png"), last, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// 5. The page's address restores everything: the edited schema, its
	// baseline (so the flips), the check.
	time.Sleep(600 * time.Millisecond) // the fragment is written 400 ms after the last change
	url := value(`location.href`)
	if !strings.Contains(url, "#z=") && !strings.Contains(url, "#j=") {
		t.Fatalf("the address holds no state: %s", url)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitFor("the restored page", `window.__reach.impact > 0 && window.__reach.matrix > 0 && document.querySelector("#matrix-table td.flip")`)
	if !strings.Contains(value(`document.getElementById("schema-input").value`), "permission cancel = department->admins + organization->admins") {
		t.Error("the restored page lost the edited schema")
	}
	if v := value(`document.getElementById("check-resource").value`); v != "send:s1" {
		t.Errorf("the restored check resource is %q", v)
	}
	shot("5-restored-from-link.png")

	// 6. Lookups and expand answer from the page.
	eval(`document.querySelector('#query-panel [data-tab="lookup"]').click()`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("lr-type"), "send"),
		chromedp.SetValue(chromedp.ID("lr-permission"), "view"),
		chromedp.SetValue(chromedp.ID("lr-subject"), "user:dana"),
		chromedp.Click(chromedp.CSS("#lr-form button")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor("the resources", `document.querySelector("#lookup-result .results")`)
	if got := value(`[...document.querySelectorAll("#lookup-result li")].map(li => li.textContent).join(" ")`); got != "send:s1 send:s2 send:s3" {
		t.Errorf("dana views %q", got)
	}
	eval(`document.querySelector('#query-panel [data-tab="expand"]').click()`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("expand-resource"), "send:s1"),
		chromedp.SetValue(chromedp.ID("expand-permission"), "view"),
		chromedp.Click(chromedp.CSS("#expand-form button")),
	); err != nil {
		t.Fatal(err)
	}
	waitFor("the expansion", `document.querySelector("#expand-result li")`)
	if got := value(`document.getElementById("expand-result").textContent`); !strings.Contains(got, "send:s1#view") || !strings.Contains(got, "user:uma") {
		t.Errorf("expand shows %q", got)
	}
	shot("6-expand.png")

	// 7. Every seed model loads from the menu, with its table and every
	// assertion passing.
	eval(`document.querySelector('#query-panel [data-tab="matrix"]').click()`)
	for _, name := range []string{"email_marketing", "marketing_suite", "organizing", "catalogue", "gifting"} {
		matrices := counter("matrix")
		eval(fmt.Sprintf(`(() => { const s = document.getElementById("model-select"); s.value = %q; s.dispatchEvent(new Event("change")); })()`, name))
		waitFor("the model "+name, fmt.Sprintf(`window.__reach.matrix > %s && document.getElementById("schema-input").value.includes(%q)`, matrices, "definition"))
		status := value(`document.getElementById("status").textContent`)
		var passed, total int
		if _, err := fmt.Sscanf(status[strings.LastIndex(status, "·")+len("· "):], "%d/%d assertions pass", &passed, &total); err != nil || passed != total || total < 50 {
			t.Errorf("%s: status %q", name, status)
		}
		if n := value(`String(document.querySelectorAll("#matrix-table td.cell.allowed").length)`); n == "0" {
			t.Errorf("%s: no allowed cell in its table", name)
		}
		if value(`String(document.querySelectorAll("#matrix-table td.flip").length)`) != "0" {
			t.Errorf("%s: cells flip on a model just loaded", name)
		}
		shot("7-model-" + name + ".png")
	}
	// 8. Open a validation file together with the schema file it names.
	dir := t.TempDir()
	yamlPath, zedPath := filepath.Join(dir, "tiny.yaml"), filepath.Join(dir, "tiny.zed")
	os.WriteFile(zedPath, []byte("definition user {}\n\ndefinition note {\n  relation author: user\n  permission edit = author\n}\n"), 0o644)
	os.WriteFile(yamlPath, []byte("schemaFile: tiny.zed\nrelationships: |\n  note:n1#author@user:ann\nassertions:\n  assertTrue:\n    - note:n1#edit@user:ann\n  assertFalse:\n    - note:n1#edit@user:bob\n"), 0o644)
	analyzed = counter("analyzed")
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("open-input"), []string{yamlPath, zedPath})); err != nil {
		t.Fatal(err)
	}
	waitFor("the opened file", fmt.Sprintf(`window.__reach.analyzed > %s && document.getElementById("schema-input").value.includes("definition note")`, analyzed))
	if got := value(`document.getElementById("rel-input").value.trim() + "|" + document.getElementById("assert-count").textContent`); got != "note:n1#author@user:ann|2/2" {
		t.Errorf("opened file: %q", got)
	}
	waitFor("its matrix", `document.querySelector('#matrix-table td[data-resource="note:n1"][data-permission="edit"][data-subject="user:ann"].allowed')`)
	shot("8-opened-file.png")
	t.Logf("screenshots in %s", artifacts)
}

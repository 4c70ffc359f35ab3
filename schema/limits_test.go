package schema

import (
	"context"
	"strings"
	"testing"
	"time"
)

// These tests pin each limit of limits.go at its exact value: the largest
// input within the limit is accepted and one unit more is refused, with an
// error at the place the limit is crossed. A limit one off in either
// direction fails one of them.

func TestMaxSourceBytes(t *testing.T) {
	header := "definition user {}\n"
	// A valid schema of exactly MaxSourceBytes: the header and one long
	// comment line.
	exact := header + "//" + strings.Repeat("x", MaxSourceBytes-len(header)-3) + "\n"
	if len(exact) != MaxSourceBytes {
		t.Fatalf("built %d bytes", len(exact))
	}
	if _, _, err := Compile("big.zed", []byte(exact)); err != nil {
		t.Fatalf("%d bytes refused: %v", len(exact), err)
	}
	over := exact + "\n" // the byte past the limit is on line 3
	const want = "big.zed:3:1: schema too large: 4194305 bytes, more than the limit of 4194304 (4 MiB); nothing past this point was read"
	_, _, err := Compile("big.zed", []byte(over))
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	// Parse alone (as a server does before it compiles) refuses it too.
	f, diags := Parse("big.zed", []byte(over))
	if len(diags) != 1 || diags[0].String() != want || len(f.Decls) != 0 {
		t.Errorf("Parse: %v, %d declarations", diags, len(f.Decls))
	}
}

func TestMaxExprTerms(t *testing.T) {
	// 10,000 terms compile; the 10,001st is refused where it stands.
	if _, _, err := Compile("t.zed", longChain(MaxExprTerms, "+")); err != nil {
		t.Fatalf("%d terms refused: %v", MaxExprTerms, err)
	}
	_, _, err := Compile("t.zed", longChain(MaxExprTerms+1, "+"))
	const want = "t.zed:5:90020: expression too long: permission view has more than 10000 terms"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
}

// TestExprTermsCounted: what counts as a term, with the limit lowered to 3:
// names, nil and each step of an arrow; not parentheses or operators. The
// count starts again at each permission.
func TestExprTermsCounted(t *testing.T) {
	lim := defaultLimits
	lim.exprTerms = 3
	tests := []struct {
		expr string
		err  string // "" when accepted
	}{
		{"aaa + bbb + ccc", ""},
		{"aaa + bbb + ccc + aaa", "5:37: expression too long: permission ppp has more than 3 terms"},
		{"((aaa) - (bbb)) & nil", ""},
		{"aaa - bbb - nil - ccc", "5:37: expression too long: permission ppp has more than 3 terms"},
		{"aaa + ccc->ppp", ""},
		{"aaa + ccc->ppp + bbb", "5:36: expression too long: permission ppp has more than 3 terms"},
		{"ccc.any(ppp) + aaa", ""},
		{"ccc.all(ppp) + ccc.any(ppp)", "5:42: expression too long: permission ppp has more than 3 terms"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			src := "definition user {}\ndefinition doc {\n\trelation aaa: user\n\trelation bbb: user\n\tpermission ppp = " + tt.expr +
				"\n\trelation ccc: doc\n\tpermission qqq = aaa + bbb + ccc\n}\n"
			_, diags := parse("", []byte(src), lim, newStopper(context.Background()))
			want := ""
			if tt.err != "" {
				want = tt.err + "\n"
			}
			if got := diagText(diags); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// nested returns a permission expression of depth levels of parentheses.
func nested(depth int) string {
	return strings.Repeat("(", depth) + "viewer" + strings.Repeat(")", depth)
}

func TestMaxExprDepth(t *testing.T) {
	src := func(depth int) []byte {
		return []byte("definition user {}\ndefinition doc {\n\trelation viewer: user\n\tpermission view = " + nested(depth) + "\n}\n")
	}
	if _, _, err := Compile("d.zed", src(MaxExprDepth)); err != nil {
		t.Fatalf("%d levels refused: %v", MaxExprDepth, err)
	}
	// The error points at the 201st '(' (column 20 is the first), however
	// deep the nesting goes: a million levels neither exhaust the stack nor
	// take long.
	const want = "d.zed:4:220: expression nested too deeply: more than 200 levels of parentheses"
	for _, depth := range []int{MaxExprDepth + 1, 1_000_000} {
		var err error
		within(t, 10*time.Second, func() { _, _, err = Compile("d.zed", src(depth)) })
		if err == nil || err.Error() != want {
			t.Errorf("%d levels: error %v\nwant %s", depth, err, want)
		}
	}
}

func TestMaxParamTypeDepth(t *testing.T) {
	src := func(depth int) []byte {
		ty := strings.Repeat("list<", depth) + "int" + strings.Repeat(">", depth)
		return []byte("caveat deep(xxx " + ty + ") {\n\txxx == xxx\n}\n")
	}
	if _, diags := Parse("c.zed", src(MaxExprDepth)); len(diags) > 0 {
		t.Fatalf("%d levels refused: %v", MaxExprDepth, diags)
	}
	// The type argument at depth 201 stands at column 17 + 5*201.
	const want = "c.zed:1:1022: parameter type nested too deeply: more than 200 levels of type arguments"
	for _, depth := range []int{MaxExprDepth + 1, 500_000} {
		var diags []Diagnostic
		within(t, 10*time.Second, func() { _, diags = Parse("c.zed", src(depth)) })
		if len(diags) == 0 || diags[0].String() != want {
			t.Errorf("%d levels: %v\nwant %s", depth, diags, want)
		}
	}
}

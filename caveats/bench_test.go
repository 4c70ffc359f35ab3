package caveats

import "testing"

// BenchmarkEvaluate measures one evaluation as the engine will run it per
// caveated relationship: merge, convert, evaluate.
func BenchmarkEvaluate(b *testing.B) {
	for _, bc := range []struct {
		name, params, expr string
		rel, req           map[string]any
	}{
		{"int", "somecondition int", "somecondition == 42", map[string]any{"somecondition": 42.0}, nil},
		{"ipaddress", "user_ip ipaddress, cidr string", "user_ip.in_cidr(cidr)", map[string]any{"cidr": "10.0.0.0/8"}, map[string]any{"user_ip": "10.2.3.4"}},
		{"timestamp", "now timestamp, expires_at timestamp", "now < expires_at", map[string]any{"expires_at": "2024-10-03T14:16:30.776734Z"}, map[string]any{"now": "2023-01-01T00:00:00Z"}},
		{"partial", "somecondition int", "somecondition == 42", nil, nil},
		{"list", "l list<int>", "l.all(i, i >= 42)", nil, map[string]any{"l": []any{56.0, 43.0, 99.0, 42.0}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := mustCompile(b, bc.params, bc.expr)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Evaluate(bc.rel, bc.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package server

import (
	"math/rand/v2"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// validFast accepts only what the generated and handwritten validations
// accept, on random names and ids near their patterns' edges; and it
// accepts the ordinary requests.
func TestValidFast(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "az09_AZ/|-=+*. \xc3é"
	str := func() string {
		n := r.IntN(6)
		switch r.IntN(6) {
		case 0:
			n = 60 + r.IntN(8)
		case 1:
			n = 1020 + r.IntN(8)
		}
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	name := func() string {
		switch r.IntN(10) {
		case 0:
			return str()
		case 1:
			return ""
		}
		return []string{"document", "user", "group", "ab", "abc", "a_b", "ab_", "Ab", "ns/document", "view", strings.Repeat("a", 64), strings.Repeat("a", 65)}[r.IntN(12)]
	}
	id := func() string {
		if r.IntN(8) == 0 {
			return str()
		}
		return []string{"d1", "*", "ana", "a/b|c-d=e+f", "", "x y", strings.Repeat("z", 1024), strings.Repeat("z", 1025)}[r.IntN(8)]
	}
	accepted := 0
	for range 50000 {
		var m any
		req := &v1.CheckPermissionRequest{Permission: name()}
		if r.IntN(10) > 0 {
			req.Resource = obj(name(), id())
		}
		if r.IntN(10) > 0 {
			req.Subject = subj(name(), id(), []string{"", "member", name()}[r.IntN(3)])
		}
		if r.IntN(3) == 0 {
			req.Consistency = &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: []string{"", "t"}[r.IntN(2)]}}}
		}
		m = req
		if r.IntN(3) == 0 {
			m = &v1.CheckBulkPermissionsRequest{Consistency: req.Consistency, Items: []*v1.CheckBulkPermissionsRequestItem{
				{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")},
				{Resource: req.Resource, Permission: req.Permission, Subject: req.Subject},
			}}
		}
		if !validFast(m) {
			continue
		}
		accepted++
		validFastOff = true
		err := validate(m)
		validFastOff = false
		if err != nil {
			t.Fatalf("validFast accepts %v, which validation refuses: %v", m, err)
		}
	}
	if accepted < 300 {
		t.Errorf("validFast accepted %d requests only", accepted)
	}
	for _, m := range []any{
		&v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")},
		&v1.CheckPermissionRequest{Resource: obj("doc", "a/b|c-d=e+f_G9"), Permission: "edit", Subject: subj("group", "eng", "member"),
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}},
	} {
		if !validFast(m) {
			t.Errorf("validFast refuses %v", m)
		}
	}
}

package server

import (
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// validFast reports whether m surely passes its generated validation
// (Validate, protoc-gen-validate's regular expressions) and its
// handwritten one, for the requests asked most, by checking the same
// patterns by hand: a check's names and ids cost a microsecond through the
// regular expressions. It may refuse what they accept (a namespaced type,
// a wildcard): validate then asks them, which also words the error.
func validFast(m any) bool {
	switch m := m.(type) {
	case *v1.CheckPermissionRequest:
		return validConsistency(m.GetConsistency()) && validCheckItem(m.GetResource(), m.GetPermission(), m.GetSubject())
	case *v1.CheckBulkPermissionsRequest:
		if !validConsistency(m.GetConsistency()) {
			return false
		}
		for _, it := range m.GetItems() {
			if it == nil || !validCheckItem(it.GetResource(), it.GetPermission(), it.GetSubject()) {
				return false
			}
		}
		return true
	}
	return false
}

// validCheckItem: a resource (no wildcard), an optional permission name,
// a subject (no wildcard).
func validCheckItem(res *v1.ObjectReference, perm string, sub *v1.SubjectReference) bool {
	return validObject(res) && (perm == "" || isName(perm)) &&
		sub != nil && validObject(sub.GetObject()) && (sub.GetOptionalRelation() == "" || isName(sub.GetOptionalRelation()))
}

func validConsistency(c *v1.Consistency) bool {
	return c == nil || c.Validate() == nil // (no pattern: cheap)
}

// validObject: a type without namespace (^[a-z][a-z0-9_]{1,62}[a-z0-9]$,
// within ^([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$)
// and an id of ^[a-zA-Z0-9/_|\-=+]{1,}$ of at most 1024 bytes (within
// ^(([a-zA-Z0-9/_|\-=+]{1,})|\*)$, the wildcard left out).
func validObject(o *v1.ObjectReference) bool {
	if o == nil || !isName(o.GetObjectType()) {
		return false
	}
	id := o.GetObjectId()
	if len(id) == 0 || len(id) > 1024 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idChar[id[i]] {
			return false
		}
	}
	return true
}

// isName matches ^[a-z][a-z0-9_]{1,62}[a-z0-9]$ (so at most 64 bytes).
func isName(s string) bool {
	if len(s) < 3 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	c := s[len(s)-1]
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// idChar: [a-zA-Z0-9/_|\-=+].
var idChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '|' || c == '-' || c == '=' || c == '+'
	}
	return t
}()

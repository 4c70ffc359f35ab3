package tuples

import (
	"errors"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, r := range []Revision{0, 1, 127, 128, 1 << 40, ^Revision(0)} {
		got, err := ParseToken(r.Token())
		if err != nil || got != r {
			t.Errorf("ParseToken(%d.Token()) = %d, %v", r, got, err)
		}
	}
}

func TestParseTokenRejects(t *testing.T) {
	for _, tok := range []string{"", "!!", "AA", "AgE", Revision(5).Token() + "A"} {
		if _, err := ParseToken(tok); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseToken(%q) error = %v, want ErrBadToken", tok, err)
		}
	}
}
